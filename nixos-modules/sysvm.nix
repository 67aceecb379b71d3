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
  inherit (lib) mkOption mkIf types;
  cfg = config.givc.sysvm;
  option = "givc.sysvm";
in
{
  imports = [ ./common.nix ];

  options.givc.sysvm =
    givcLib.agentOptions {
      inherit option cfg;
      description = "the givc agent of a system VM";
      services = [
        "reboot.target"
        "poweroff.target"
      ];
    }
    // {
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
    };

  config = mkIf cfg.enable {
    assertions = givcLib.asAssertions (
      env.agentProblems option cfg
      ++ env.servicesProblems option cfg "give the units the agent controls (at least [ \"reboot.target\" \"poweroff.target\" ])."
      ++ env.socketProxyProblems option cfg
    );

    warnings =
      env.socketProxyWarnings option cfg
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
      serviceConfig = givcLib.daemonService givcLib.systemHardening [
        "${config.givc.package}/bin/givc-agent"
      ];
    };

    networking.firewall.allowedTCPPorts = env.agentTcpPorts cfg;
  };
}
