# SPDX-License-Identifier: Apache-2.0
#
# givc.host: the agent of the host. It runs as root and controls the host's
# system manager: the VMs (microvm@NAME.service) and the power targets.
{
  config,
  lib,
  ...
}:
let
  env = import ./env.nix;
  givcLib = import ./lib.nix { inherit lib; };
  inherit (lib) mkOption mkEnableOption mkIf types literalExpression;
  cfg = config.givc.host;
  option = "givc.host";
in
{
  imports = [ ./common.nix ];

  options.givc.host = {
    enable = mkEnableOption "the givc agent of the host";

    # Upstream's older spelling of agent.{name,addr,port,protocol}; they are
    # the defaults of agent.*, so either form works and agent.* wins.
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
      defaultText = literalExpression "{ inherit (config.givc.host) name addr port protocol; }";
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
      "sleep.target"
      "suspend.target"
    ];

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
                "${option}.services is empty: the host agent needs the units it controls (at least the power targets, e.g. [ \"reboot.target\" \"poweroff.target\" ])."
              ]
            else
              [ ]
          )
        );

    systemd.services."givc-${cfg.agent.name}" = {
      description = "givc agent of the host";
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      wantedBy = [ "multi-user.target" ];
      environment = env.agentEnvironment "host" cfg;
      serviceConfig = givcLib.systemHardening // {
        Type = "notify";
        ExecStart = env.execLine [ "${config.givc.package}/bin/givc-agent" ];
        Restart = "always";
        RestartSec = 1;
        # The main thread pings every 15 s; a process that stops being
        # scheduled (or hangs on its way out) is restarted.
        WatchdogSec = "30s";
        # Units are started, stopped, frozen and powered off by systemd on
        # the agent's request over /run/systemd/private (as uid 0): the agent
        # itself needs no capability for that, and the applications and VMs
        # it starts are units of their own, outside this sandbox.
      };
    };

    networking.firewall.allowedTCPPorts = env.tcpPorts cfg.agent;
  };
}
