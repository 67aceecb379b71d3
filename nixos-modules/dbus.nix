# SPDX-License-Identifier: Apache-2.0
#
# givc.dbusproxy: xdg-dbus-proxy in front of the system or session bus,
# exposing a filtered bus on a local socket (upstream's dbus.nix). Upstream
# hands that socket to the agent's socket proxy; this givc agent does not run
# socket proxies, so the filtered socket is local only.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  env = import ./env.nix;
  givcLib = import ./lib.nix { inherit lib; };
  inherit (lib) mkOption mkEnableOption mkIf types;
  cfg = config.givc.dbusproxy;

  policyKinds = [
    "see"
    "talk"
    "own"
    "call"
    "broadcast"
  ];

  busOption =
    description:
    mkOption {
      type = types.submodule {
        options = {
          enable = mkEnableOption "a proxy for this bus";
          user = mkOption {
            type = types.str;
            default = "root";
            description = "User the proxy runs as (and, for the session bus, whose bus it is).";
          };
          socket = mkOption {
            type = types.str;
            default = "/tmp/.dbusproxy.sock";
            description = "Path of the filtered bus socket.";
          };
          policy = mkOption {
            type = types.submodule {
              options = builtins.listToAttrs (
                map (kind: {
                  name = kind;
                  value = mkOption {
                    type = types.nullOr (types.listOf types.str);
                    default = null;
                    description = "xdg-dbus-proxy --${kind}= rules.";
                  };
                }) policyKinds
              );
            };
            default = { };
            description = "What clients of the filtered socket may see, talk to, own, call and receive.";
          };
          debug = mkEnableOption "logging of the filtered traffic (--log)";
        };
      };
      default = { };
      inherit description;
    };

  hasPolicy = bus: builtins.any (kind: bus.policy.${kind} != null) policyKinds;

  proxyCommand =
    bus: busAddress:
    env.execLine (
      [
        "${pkgs.xdg-dbus-proxy}/bin/xdg-dbus-proxy"
        busAddress
        bus.socket
        "--filter"
      ]
      ++ builtins.concatMap (
        kind: if bus.policy.${kind} == null then [ ] else map (rule: "--${kind}=${rule}") bus.policy.${kind}
      ) policyKinds
      ++ (if bus.debug then [ "--log" ] else [ ])
    );

  sessionUser = config.users.users.${cfg.session.user} or { };
  sessionUid = sessionUser.uid or null;
in
{
  imports = [ ./common.nix ];

  options.givc.dbusproxy = {
    enable = mkEnableOption "xdg-dbus-proxy for the system or session bus";
    system = busOption "The proxy of the system bus.";
    session = busOption "The proxy of the session bus of the user given in session.user.";
  };

  config = mkIf cfg.enable {
    assertions = givcLib.asAssertions (
      (
        if !cfg.system.enable && !cfg.session.enable then
          [
            "givc.dbusproxy.enable is true but neither givc.dbusproxy.system nor givc.dbusproxy.session is enabled."
          ]
        else
          [ ]
      )
      ++ map (bus: "givc.dbusproxy.${bus}: give at least one policy (see, talk, own, call or broadcast).") (
        builtins.filter (bus: cfg.${bus}.enable && !hasPolicy cfg.${bus}) [
          "system"
          "session"
        ]
      )
      ++ (
        if
          cfg.session.enable && !((sessionUser.isNormalUser or false) && sessionUid != null)
        then
          [
            "givc.dbusproxy.session.user = \"${cfg.session.user}\" must be a normal user with a fixed uid (users.users.${cfg.session.user}.uid)."
          ]
        else
          [ ]
      )
    );

    environment.systemPackages = [ pkgs.xdg-dbus-proxy ];

    systemd.services = if !cfg.system.enable then { } else {
      givc-dbusproxy-system = {
        description = "givc D-Bus proxy of the system bus";
        before = [ "givc-setup.target" ];
        wantedBy = [ "givc-setup.target" ];
        serviceConfig = givcLib.systemHardening // {
          Type = "exec";
          ExecStart = proxyCommand cfg.system "unix:path=/run/dbus/system_bus_socket";
          User = cfg.system.user;
          Restart = "always";
          RestartSec = 1;
          # The socket is for other services and users: a private /tmp would
          # hide it, so /tmp stays shared and only its directory is writable.
          PrivateTmp = false;
          ReadWritePaths = [ (builtins.dirOf cfg.system.socket) ];
          RestrictAddressFamilies = [ "AF_UNIX" ];
          # The proxy needs no capability, not even to read files.
          CapabilityBoundingSet = "";
          # As upstream: the socket is the proxy user's, mode 0755.
          UMask = "0022";
        };
      };
    };

    systemd.user.services = if !cfg.session.enable then { } else {
      givc-dbusproxy-session = {
        description = "givc D-Bus proxy of the session bus";
        after = [ "sockets.target" ];
        wants = [ "sockets.target" ];
        wantedBy = [ "default.target" ];
        unitConfig.ConditionUser = cfg.session.user;
        serviceConfig = givcLib.userHardening // {
          Type = "exec";
          ExecStart = proxyCommand cfg.session "unix:path=/run/user/${toString sessionUid}/bus";
          Restart = "always";
          RestartSec = 1;
          RestrictAddressFamilies = [ "AF_UNIX" ];
          UMask = "0022";
        };
      };
    };
  };
}
