# SPDX-License-Identifier: Apache-2.0
#
# The host of the README's example set-up (givc.host). The tests evaluate
# this file and check what the module makes of it against the binary.
{
  givc.host = {
    enable = true;
    agent = {
      name = "ghaf-host";
      addr = "192.168.101.2";
      port = "9000";
    };
    admin = {
      name = "admin-vm";
      addr = "192.168.101.10";
      port = "9001";
    };
    services = [
      "microvm@admin-vm.service"
      "microvm@gui-vm.service"
      "microvm@chromium-vm.service"
      "reboot.target"
      "poweroff.target"
      "sleep.target"
      "suspend.target"
    ];
    tls = {
      caCertPath = "/etc/givc/ca-cert.pem";
      certPath = "/etc/givc/ghaf-host-cert.pem";
      keyPath = "/etc/givc/ghaf-host-key.pem";
    };
  };
}
