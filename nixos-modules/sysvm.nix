# SPDX-License-Identifier: Apache-2.0
#
# givc.sysvm: the agent of a system VM (net-vm, gui-vm, audio-vm, ...). It
# runs as root and controls the VM's system manager.
{
  config,
  lib,
  ...
}:
let
  env = import ./env.nix;
  givcLib = import ./lib.nix { inherit lib; };
  inherit (lib) mkOption mkEnableOption mkIf types literalExpression;
  cfg = config.givc.sysvm;
  option = "givc.sysvm";
  proxies = if cfg.socketProxy == null then [ ] else cfg.socketProxy;
in
{
  imports = [ ./common.nix ];

  options.givc.sysvm = {
    enable = mkEnableOption "the givc agent of a system VM";

    name = mkOption {
      type = types.str;
      default = "localhost";
      description = "The agent's name (older spelling of agent.name).";
    };
    addr = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = "The agent's address (older spelling of agent.addr).";
    };
    port = mkOption {
      type = givcLib.portType;
      default = "9000";
      description = "The agent's port (older spelling of agent.port).";
    };
    protocol = mkOption {
      type = types.str;
      default = "tcp";
      description = "The agent's protocol (older spelling of agent.protocol).";
    };

    agent = mkOption {
      type = types.submodule {
        options = givcLib.transportOptions {
          inherit (cfg) name addr port protocol;
        };
      };
      default = { };
      defaultText = literalExpression "{ inherit (config.givc.sysvm) name addr port protocol; }";
      description = "Where the agent listens, and the name on its certificate.";
    };

    admin = givcLib.adminOption {
      name = "localhost";
      addr = "127.0.0.1";
      port = "9001";
      protocol = "tcp";
    };

    services = givcLib.servicesOption [
      "reboot.target"
      "poweroff.target"
    ];

    wifiManager = mkOption {
      type = types.bool;
      default = false;
      description = "Upstream's wifimanager.WifiService. Accepted so configurations evaluate; this givc agent does not serve it and warns.";
    };
    hwidService = mkOption {
      type = types.bool;
      default = false;
      description = "Serve hwid.HwidService (the MAC address of a network interface).";
    };
    hwidIface = mkOption {
      type = types.str;
      default = "";
      description = "Interface whose MAC address is the hardware id; empty: the one wl* interface.";
    };

    socketProxy = givcLib.socketProxyOption config.givc.dbusproxy.enable;
    tls = givcLib.tlsOption;
    debug = givcLib.debugOption;
  };

  config = mkIf cfg.enable {
    assertions =
      map
        (message: {
          assertion = false;
          inherit message;
        })
        (
          env.tlsProblems option cfg.tls
          ++ env.transportProblems "${option}.agent" cfg.agent
          ++ env.transportProblems "${option}.admin" cfg.admin
          ++ (
            if env.nameIsValid cfg.agent.name then
              [ ]
            else
              [
                "${option}.agent.name = \"${cfg.agent.name}\" may only contain letters, digits, '-', '_' and '.'."
              ]
          )
          ++ (
            if cfg.services == [ ] then
              [
                "${option}.services is empty: give the units the agent controls (at least [ \"reboot.target\" \"poweroff.target\" ])."
              ]
            else
              [ ]
          )
          ++ map (p: "${option}.socketProxy: port ${toString p} is used by more than one proxy or by the agent.") (
            env.duplicates (
              env.tcpPorts cfg.agent ++ builtins.concatMap (p: env.tcpPorts p.transport) proxies
            )
          )
          ++ map (s: "${option}.socketProxy: the socket ${s} is used by more than one proxy.") (
            env.duplicates (map (p: p.socket) proxies)
          )
        );

    warnings =
      (
        if cfg.socketProxy != null then
          [ "${option}.socketProxy is set, but this givc agent does not run socket proxies." ]
        else
          [ ]
      )
      ++ (
        if cfg.wifiManager then
          [
            "${option}.wifiManager is set, but this givc agent does not serve wifimanager.WifiService."
          ]
        else
          [ ]
      );

    systemd.services."givc-${cfg.agent.name}" = {
      description = "givc agent of a system VM";
      after = [ "givc-setup.target" ];
      partOf = [ "givc-setup.target" ];
      wantedBy = [ "givc-setup.target" ];
      environment = env.agentEnvironment "sysvm" cfg;
      # Same sandbox as the host's agent (see host.nix). PrivateTmp stays on:
      # upstream's socket proxies, which would share /tmp/.dbusproxy*.sock with
      # xdg-dbus-proxy, are not run by this agent.
      serviceConfig = givcLib.systemHardening // {
        Type = "notify";
        ExecStart = env.execLine [ "${config.givc.package}/bin/givc-agent" ];
        Restart = "always";
        RestartSec = 1;
        WatchdogSec = "30s";
      };
    };

    networking.firewall.allowedTCPPorts =
      env.tcpPorts cfg.agent ++ builtins.concatMap (p: env.tcpPorts p.transport) proxies;
  };
}
