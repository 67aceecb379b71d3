# SPDX-License-Identifier: Apache-2.0
#
# givc.appvm: the agent of an application VM. It runs in the user manager
# of the VM's user and starts the applications as that user's units.
{
  config,
  lib,
  ...
}:
let
  env = import ./env.nix;
  givcLib = import ./lib.nix { inherit lib; };
  inherit (lib) mkOption mkIf types;
  cfg = config.givc.appvm;
  option = "givc.appvm";
in
{
  imports = [ ./common.nix ];

  options.givc.appvm =
    givcLib.agentOptions {
      inherit option cfg;
      description = "the givc agent of an application VM";
      services = [ ];
    }
    // {
      applications = givcLib.applicationOption;

      user = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "ghaf";
        description = "Run the agent only in this user's manager (ConditionUser=); null: in every user's, like upstream.";
      };

      socketProxy = givcLib.socketProxyOption config.givc.dbusproxy.enable;
    };

  config = mkIf cfg.enable {
    assertions = givcLib.asAssertions (
      env.agentProblems option cfg
      ++ env.applicationProblems "${option}.applications" cfg.applications
      ++ env.socketProxyProblems option cfg
    );

    warnings = env.socketProxyWarnings option cfg;

    # The agent sets locale and timezone through systemd-localed and
    # systemd-timedated as the VM's user (upstream's rule).
    security.polkit.extraConfig = ''
      polkit.addRule(function(action, subject) {
        if ((action.id == "org.freedesktop.locale1.set-locale" ||
             action.id == "org.freedesktop.timedate1.set-timezone") &&
            subject.isInGroup("users")) {
          return polkit.Result.YES;
        }
      });
    '';

    systemd.user.services."givc-${cfg.agent.name}" = {
      description = "givc agent of an application VM";
      after = [ "sockets.target" ];
      wants = [ "sockets.target" ];
      wantedBy = [ "default.target" ];
      unitConfig = if cfg.user == null then { } else { ConditionUser = cfg.user; };
      environment = env.agentEnvironment "appvm" cfg;
      # --user: the user's manager, also should the unit ever run as root.
      serviceConfig = givcLib.daemonService givcLib.userHardening [
        "${config.givc.package}/bin/givc-agent"
        "--user"
      ];
    };

    networking.firewall.allowedTCPPorts = env.agentTcpPorts cfg;
  };
}
