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
  inherit (lib) mkIf;
  cfg = config.givc.host;
  option = "givc.host";
in
{
  imports = [ ./common.nix ];

  options.givc.host = givcLib.agentOptions {
    inherit option cfg;
    description = "the givc agent of the host";
    services = [
      "reboot.target"
      "poweroff.target"
      "sleep.target"
      "suspend.target"
    ];
  };

  config = mkIf cfg.enable {
    assertions = givcLib.asAssertions (
      env.agentProblems option cfg
      ++ env.servicesProblems option cfg "the host agent needs the units it controls (at least the power targets, e.g. [ \"reboot.target\" \"poweroff.target\" ])."
    );

    systemd.services."givc-${cfg.agent.name}" = {
      description = "givc agent of the host";
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      wantedBy = [ "multi-user.target" ];
      environment = env.agentEnvironment "host" cfg;
      # Units are started, stopped, frozen and powered off by systemd on the
      # agent's request over the system bus (as uid 0): the agent
      # itself needs no capability for that, and the applications and VMs it
      # starts are units of their own, outside this sandbox.
      serviceConfig = givcLib.daemonService givcLib.systemHardening [
        "${config.givc.package}/bin/givc-agent"
      ];
    };

    networking.firewall.allowedTCPPorts = env.tcpPorts cfg.agent;
  };
}
