# SPDX-License-Identifier: Apache-2.0
#
# givc.admin: the admin service, in the admin VM. It talks to the agents
# over gRPC only and keeps its registry in /var/lib/givc.
{
  config,
  lib,
  ...
}:
let
  env = import ./env.nix;
  givcLib = import ./lib.nix { inherit lib; };
  inherit (lib) mkOption mkEnableOption mkIf types;
  cfg = config.givc.admin;
  option = "givc.admin";
  port = env.portNumber cfg.port;
in
{
  imports = [ ./common.nix ];

  options.givc.admin = {
    enable = mkEnableOption "the givc admin service";

    name = mkOption {
      type = types.str;
      default = "localhost";
      description = "The admin's name: agents and the CLI check it against its certificate.";
    };
    addr = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = "IP address to listen on.";
    };
    port = mkOption {
      type = givcLib.portType;
      default = "9001";
      description = "TCP port to listen on.";
    };
    protocol = mkOption {
      type = types.str;
      default = "tcp";
      description = "Upstream's; the admin listens on TCP.";
    };
    services = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Upstream's; accepted, and without effect (as upstream's admin).";
    };

    monitorInterval = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "5s";
      description = "How often every agent is asked for its status (givc admin --monitor-interval); null: the admin's default (5s).";
    };
    vmStartTimeout = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "30s";
      description = "How long to wait for a booting VM's agent (--vm-start-timeout); null: the admin's default (30s).";
    };
    restartVms = mkOption {
      type = types.bool;
      default = false;
      description = "Start a VM again when its agent went away (--restart-vms).";
    };

    tls = givcLib.tlsOption;
    debug = givcLib.debugOption;
  };

  config = mkIf cfg.enable {
    assertions = givcLib.asAssertions (
      env.tlsProblems option cfg.tls
      ++ (
        if cfg.protocol != "tcp" then
          [
            "${option}.protocol = \"${cfg.protocol}\": the admin listens on TCP only (protocol = \"tcp\")."
          ]
        else
          [ ]
      )
      ++ (
        if port == null then
          [ "${option}.port = \"${toString cfg.port}\" is not a port number (1 to 65535)." ]
        else
          [ ]
      )
      ++ (if cfg.addr == "" then [ "${option}.addr is empty." ] else [ ])
    );

    systemd.services.givc-admin = {
      description = "givc admin service";
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      wantedBy = [ "multi-user.target" ];
      environment = env.adminEnvironment cfg;
      serviceConfig =
        givcLib.daemonService givcLib.systemHardening (
          [ "${config.givc.package}/bin/givc-admin" ] ++ env.adminArguments cfg
        )
        // {
          # /var/lib/givc, the only place written; STATE_DIRECTORY tells the admin.
          StateDirectory = "givc";
          StateDirectoryMode = "0700";
          # The admin looks at no other process.
          ProtectProc = "invisible";
        }
        # Ports below 1024 need the capability to bind them.
        // (
          if port != null && port < 1024 then
            {
              CapabilityBoundingSet = givcLib.systemHardening.CapabilityBoundingSet ++ [
                "CAP_NET_BIND_SERVICE"
              ];
            }
          else
            { }
        );
    };

    networking.firewall.allowedTCPPorts = if port != null then [ port ] else [ ];
  };
}
