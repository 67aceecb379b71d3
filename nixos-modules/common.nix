# SPDX-License-Identifier: Apache-2.0
#
# What the givc role modules share: the package, and the checks that look at
# all roles of one machine together.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  env = import ./env.nix;
  givcLib = import ./lib.nix { inherit lib; };
  inherit (lib) mkOption types literalExpression;
  cfg = config.givc;

  # The TCP ports each enabled role of this machine listens on.
  roles = builtins.filter (r: r.enable) [
    {
      option = "givc.admin.port";
      enable = cfg.admin.enable;
      ports = env.tcpPorts {
        inherit (cfg.admin) protocol port;
      };
    }
    {
      option = "givc.host.agent.port";
      enable = cfg.host.enable;
      ports = env.tcpPorts cfg.host.agent;
    }
    {
      option = "givc.sysvm.agent.port";
      enable = cfg.sysvm.enable;
      ports = env.tcpPorts cfg.sysvm.agent;
    }
    {
      option = "givc.appvm.agent.port";
      enable = cfg.appvm.enable;
      ports = env.tcpPorts cfg.appvm.agent;
    }
  ];
  used = builtins.concatMap (r: map (p: { inherit (r) option; port = p; }) r.ports) roles;
  clashes = env.duplicates (map (u: u.port) used);
in
{
  imports = [
    ./admin.nix
    ./host.nix
    ./sysvm.nix
    ./appvm.nix
    ./dbus.nix
  ];

  options.givc.package = mkOption {
    type = types.package;
    # With the flake's overlay, pkgs.givc; otherwise built from this tree.
    default = pkgs.givc or (pkgs.callPackage ./package.nix { });
    defaultText = literalExpression "pkgs.givc";
    description = "The givc package (one binary; bin/givc-agent and bin/givc-admin are its role names).";
  };

  config = {
    assertions = givcLib.asAssertions (
      map (
        port:
        "givc: TCP port ${toString port} is used by ${
          builtins.concatStringsSep " and " (
            map (u: u.option) (builtins.filter (u: u.port == port) used)
          )
        } on this machine: give each role its own port."
      ) clashes
    );

    # Upstream's target that a system VM's agent and D-Bus proxies hang off.
    systemd.targets =
      if cfg.sysvm.enable || (cfg.dbusproxy.enable && cfg.dbusproxy.system.enable) then
        {
          givc-setup = {
            description = "givc set-up";
            bindsTo = [ "network.target" ];
            after = [ "network.target" ];
            wantedBy = [ "network.target" ];
          };
        }
      else
        { };
  };
}
