# SPDX-License-Identifier: Apache-2.0
#
# Evaluates the givc NixOS modules (nixos-modules/default.nix, the real
# files) for every configuration of cases.nix with the stand-in of stub.nix,
# and gives, as JSON, what the modules make of each: failed assertions,
# warnings, units and firewall ports.
#
#   nix-instantiate --eval --strict --json tests/nix/eval.nix -A report
let
  root = ../..;
  stub = import ./stub.nix;
  cases = import ./cases.nix { examples = root + "/nixos-modules/examples"; };

  # Store paths stand in for packages.
  pkgs = {
    givc = "/nix/store/00000000000000000000000000000000-givc-0.1.0";
    xdg-dbus-proxy = "/nix/store/00000000000000000000000000000000-xdg-dbus-proxy";
  };

  evaluate =
    configuration:
    stub.evalModules {
      modules = [ (root + "/nixos-modules/default.nix") ];
      inherit configuration pkgs;
    };

  summary =
    configuration:
    let
      e = evaluate configuration;
      systemd = e.result.systemd or { };
    in
    {
      inherit (e) failedAssertions warnings;
      services = systemd.services or { };
      userServices = (systemd.user or { }).services or { };
      targets = systemd.targets or { };
      firewall = ((e.result.networking or { }).firewall or { }).allowedTCPPorts or [ ];
      polkit = ((e.result.security or { }).polkit or { }).extraConfig or null;
    };
in
{
  report = {
    machines = builtins.mapAttrs (_: summary) cases.machines;
    # true where evaluation failed, as it must.
    refused = builtins.mapAttrs (
    _: c:
    !(builtins.tryEval (
      let
        s = summary c;
      in
      builtins.deepSeq s true
    )).success
    ) cases.refused;
  };
  # The same, to see their errors one at a time.
  refusedSummaries = builtins.mapAttrs (_: summary) cases.refused;
}
