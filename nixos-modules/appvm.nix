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
  inherit (lib) mkOption mkEnableOption mkIf types literalExpression;
  cfg = config.givc.appvm;
  option = "givc.appvm";
  proxies = if cfg.socketProxy == null then [ ] else cfg.socketProxy;
in
{
  imports = [ ./common.nix ];

  options.givc.appvm = {
    enable = mkEnableOption "the givc agent of an application VM";

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
      defaultText = literalExpression "{ inherit (config.givc.appvm) name addr port protocol; }";
      description = "Where the agent listens, and the name on its certificate.";
    };

    admin = givcLib.adminOption {
      name = "localhost";
      addr = "127.0.0.1";
      port = "9001";
      protocol = "tcp";
    };

    services = givcLib.servicesOption [ ];
    applications = givcLib.applicationOption;

    user = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "ghaf";
      description = "Run the agent only in this user's manager (ConditionUser=); null: in every user's, like upstream.";
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
          ++ env.applicationProblems "${option}.applications" cfg.applications
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
      if cfg.socketProxy != null then
        [ "${option}.socketProxy is set, but this givc agent does not run socket proxies." ]
      else
        [ ];

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
      serviceConfig = givcLib.userHardening // {
        Type = "notify";
        # --user: the user's manager, also should the unit ever run as root.
        ExecStart = env.execLine [
          "${config.givc.package}/bin/givc-agent"
          "--user"
        ];
        Restart = "always";
        RestartSec = 1;
        WatchdogSec = "30s";
      };
    };

    networking.firewall.allowedTCPPorts =
      env.tcpPorts cfg.agent ++ builtins.concatMap (p: env.tcpPorts p.transport) proxies;
  };
}
