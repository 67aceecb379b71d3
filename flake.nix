# SPDX-License-Identifier: Apache-2.0
{
  description = "givc: the Ghaf inter-VM control plane in C (agent, admin and CLI in one binary)";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    flake-utils.url = "github:numtide/flake-utils";
    devshell = {
      url = "github:numtide/devshell";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    treefmt-nix = {
      url = "github:numtide/treefmt-nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      flake-utils,
      devshell,
      treefmt-nix,
    }:
    let
      # The package, and one package per role exposing bin/givc-ROLE (the
      # role names are symlinks to the one binary).
      overlay = final: _prev: {
        givc = final.callPackage ./nixos-modules/package.nix { };
        givc-agent = final.callPackage ./nixos-modules/role.nix { role = "agent"; };
        givc-admin = final.callPackage ./nixos-modules/role.nix { role = "admin"; };
        givc-cli = final.callPackage ./nixos-modules/role.nix { role = "cli"; };
      };
    in
    {
      overlays.default = overlay;

      # Upstream's module names, and default importing all of them. The
      # modules take the package from pkgs.givc (this overlay) when present,
      # otherwise they build it from this flake's source.
      nixosModules = {
        default = ./nixos-modules/default.nix;
        host = ./nixos-modules/host.nix;
        sysvm = ./nixos-modules/sysvm.nix;
        appvm = ./nixos-modules/appvm.nix;
        admin = ./nixos-modules/admin.nix;
        dbusproxy = ./nixos-modules/dbus.nix;
        dbus = ./nixos-modules/dbus.nix;
      };
    }
    // flake-utils.lib.eachSystem [ "x86_64-linux" "aarch64-linux" ] (
      system:
      let
        pkgs = import nixpkgs {
          inherit system;
          overlays = [
            devshell.overlays.default
            overlay
          ];
        };
        treefmt = treefmt-nix.lib.evalModule pkgs {
          projectRootFile = "flake.nix";
          programs.nixfmt = {
            enable = true;
            package = pkgs.nixfmt-rfc-style;
          };
        };
        # The devshell menu, on top of the package's build environment
        # (compiler, meson, pkg-config and the libraries with their hooks).
        menu = pkgs.devshell.mkShell {
          name = "givc";
          commands = [
            {
              name = "build";
              help = "configure (once) and build in ./build";
              command = ''
                [ -f build/build.ninja ] || meson setup build
                meson compile -C build "$@"
              '';
            }
            {
              name = "unit-tests";
              help = "the cmocka unit suite";
              command = ''meson test -C build --suite unit --print-errorlogs "$@"'';
            }
            {
              name = "tests";
              help = "every suite (the integration suite wants root, as tests/dev.sh)";
              command = ''meson test -C build --print-errorlogs --num-processes 2 "$@"'';
            }
          ];
        };
      in
      {
        packages = {
          inherit (pkgs)
            givc
            givc-agent
            givc-admin
            givc-cli
            ;
          default = pkgs.givc;
        };

        devShells.default = pkgs.mkShell {
          inputsFrom = [ pkgs.givc ];
          packages = [
            menu.hook
            pkgs.gdb
            pkgs.valgrind
            pkgs.openssl
            pkgs.grpc
            pkgs.nix
            pkgs.nixfmt-rfc-style
            (pkgs.python3.withPackages (p: [
              p.grpcio
              p.grpcio-tools
              p.protobuf
              p.python-dbusmock
            ]))
          ];
        };

        checks = {
          # The build with its unit tests (the package's check phase).
          inherit (pkgs) givc;
          roles = pkgs.runCommand "givc-roles" { } ''
            ${pkgs.givc-agent}/bin/givc-agent --help > /dev/null
            ${pkgs.givc-admin}/bin/givc-admin --help > /dev/null
            ${pkgs.givc-cli}/bin/givc-cli --help > /dev/null
            touch $out
          '';
          formatting = treefmt.config.build.check self;
          # Upstream's admin VM test (spec §7.2): host, admin, system and app VM.
          vm-admin = pkgs.testers.runNixOSTest (
            import ./nixos-modules/tests/admin.nix { inherit self pkgs; }
          );
        };

        formatter = treefmt.config.build.wrapper;
      }
    );
}
