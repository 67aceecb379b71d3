# SPDX-License-Identifier: Apache-2.0
#
# upstream's admin VM test (spec §7.2), with this givc: a host, an admin VM,
# a system VM and an application VM, on mutual TLS with certificates made by
# `givc certs` at build time. The CLI on the host checks that every agent
# registers, sets locale and timezone, and starts, pauses, resumes and stops
# an application in the app VM. Headless: the application is a sleep, not
# upstream's foot in sway.
#
# Run with `nix build .#checks.x86_64-linux.vm-admin` (flake.nix).
{ self, pkgs }:
let
  inherit (pkgs) lib;

  certs = pkgs.runCommand "givc-test-certs" { nativeBuildInputs = [ pkgs.givc ]; } ''
    givc certs ca $out
    givc certs issue --ca $out --name admin-vm --ip 192.168.101.10
    givc certs issue --ca $out --name ghaf-host --ip 192.168.101.2
    givc certs issue --ca $out --name gui-vm --ip 192.168.101.3
    givc certs issue --ca $out --name chromium-vm --ip 192.168.101.5
  '';
  tlsFor = name: {
    enable = true;
    caCertPath = "${certs}/ca-cert.pem";
    certPath = "${certs}/${name}/${name}-cert.pem";
    keyPath = "${certs}/${name}/${name}-key.pem";
  };
  admin = {
    name = "admin-vm";
    addr = "192.168.101.10";
    port = "9001";
  };

  # An agent of the node at address, listening there on port 9000,
  # registering with the admin, on TLS with the certificate of its name;
  # `settings` adds options.
  agentAt =
    address: name: settings:
    {
      enable = true;
      agent = {
        inherit name;
        addr = address;
        port = "9000";
      };
      inherit admin;
      tls = tlsFor name;
    }
    // settings;

  node = address: extra: {
    imports = [
      self.nixosModules.default
      extra
    ];
    networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
      {
        inherit address;
        prefixLength = 24;
      }
    ];
  };

  cli = lib.concatStringsSep " " [
    "${pkgs.givc}/bin/givc-cli"
    "--addr ${admin.addr} --port ${admin.port} --name ${admin.name}"
    "--cacert ${certs}/ca-cert.pem"
    "--cert ${certs}/ghaf-host/ghaf-host-cert.pem"
    "--key ${certs}/ghaf-host/ghaf-host-key.pem"
  ];
in
{
  name = "givc-admin";

  nodes = {
    adminvm = node "192.168.101.10" {
      givc.admin = admin // {
        enable = true;
        debug = true;
        tls = tlsFor "admin-vm";
      };
    };

    hostvm = node "192.168.101.2" {
      givc.host = agentAt "192.168.101.2" "ghaf-host" {
        services = [
          "microvm@admin-vm.service"
          "microvm@chromium-vm.service"
          "poweroff.target"
          "reboot.target"
          "sleep.target"
          "suspend.target"
        ];
      };
      # Stands in for the app VM's microvm unit, which the admin starts
      # before it starts an application there.
      systemd.services."microvm@chromium-vm" = {
        wantedBy = [ "multi-user.target" ];
        serviceConfig.ExecStart = "${pkgs.coreutils}/bin/sleep infinity";
      };
    };

    guivm = node "192.168.101.3" {
      givc.sysvm = agentAt "192.168.101.3" "gui-vm" { };
    };

    appvm = node "192.168.101.5" {
      users.users.ghaf = {
        isNormalUser = true;
        uid = 1000;
        # The agent runs in ghaf's user manager, started at boot.
        linger = true;
      };
      givc.appvm = agentAt "192.168.101.5" "chromium-vm" {
        user = "ghaf";
        applications = [
          {
            name = "sleeper";
            command = "${pkgs.coreutils}/bin/sleep 600";
          }
          {
            name = "clearexit";
            command = "${pkgs.coreutils}/bin/sleep 5";
          }
        ];
      };
    };
  };

  testScript = ''
    import json
    import time

    cli = "${cli}"


    def query():
        return json.loads(hostvm.succeed(f"{cli} query-list --as-json 2>/dev/null"))


    def instance(app):
        names = [e["name"] for e in query() if e["name"].startswith(app + "@")]
        assert names, f"no instance of {app} is registered"
        return names[-1]


    def status_is(name, status):
        return any(e["name"] == name and e["status"] == status for e in query())


    def wait_status(name, status, timeout=30):
        deadline = time.monotonic() + timeout
        while not status_is(name, status):
            assert time.monotonic() < deadline, f"{name} is not {status} after {timeout} s: {query()}"
            time.sleep(0.5)


    start_all()

    with subtest("every agent registers"):
        adminvm.wait_for_unit("givc-admin.service")
        hostvm.wait_for_unit("givc-ghaf-host.service")
        guivm.wait_for_unit("givc-gui-vm.service")
        appvm.wait_for_unit("givc-chromium-vm.service", "ghaf")
        for unit in ["givc-ghaf-host.service", "givc-gui-vm.service", "givc-chromium-vm.service"]:
            hostvm.succeed(f"{cli} test ensure --retry 60 {unit}")

    with subtest("the units are sandboxed"):
        adminvm.succeed("systemctl show -p ProtectSystem --value givc-admin.service | grep -qx strict")
        adminvm.succeed("test -d /var/lib/givc")
        hostvm.succeed("systemctl show -p CapabilityBoundingSet --value givc-ghaf-host.service | grep -qx cap_dac_read_search")
        appvm.succeed("pgrep -u ghaf -x givc-agent")

    with subtest("locale and timezone"):
        hostvm.succeed(f"{cli} set-locale en_US.UTF-8")
        hostvm.succeed(f"{cli} set-timezone UTC")
        # Kept by the admin (for agents that register later) and across its restarts.
        state = json.loads(adminvm.succeed("cat /var/lib/givc/admin-state.json"))
        assert "en_US.UTF-8" in json.dumps(state) and "UTC" in json.dumps(state), state

    with subtest("start, pause, resume and stop an application"):
        hostvm.succeed(f"{cli} start --vm chromium-vm sleeper")
        appvm.wait_until_succeeds("pgrep -u ghaf -f 'sleep 600'")
        name = instance("sleeper")
        hostvm.succeed(f"{cli} pause {name}")
        wait_status(name, "Paused")
        hostvm.succeed(f"{cli} resume {name}")
        wait_status(name, "Running")
        hostvm.succeed(f"{cli} stop {name}")
        appvm.wait_until_fails("pgrep -u ghaf -f 'sleep 600'", timeout=30)

    with subtest("an application that exits cleanly can be started again"):
        hostvm.succeed(f"{cli} start --vm chromium-vm clearexit")
        appvm.wait_until_succeeds("pgrep -u ghaf -f 'sleep 5'")
        hostvm.wait_until_fails(f"{cli} query-list --as-json | grep -q clearexit@", timeout=60)
        hostvm.succeed(f"{cli} start --vm chromium-vm clearexit")
  '';
}
