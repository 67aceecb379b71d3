# SPDX-License-Identifier: Apache-2.0
#
# A system VM of the README's example set-up (givc.sysvm).
{
  givc.sysvm = {
    enable = true;
    agent = {
      name = "gui-vm";
      addr = "192.168.101.3";
      port = "9000";
    };
    admin = {
      name = "admin-vm";
      addr = "192.168.101.10";
      port = "9001";
    };
    services = [
      "reboot.target"
      "poweroff.target"
    ];
    tls = {
      caCertPath = "/etc/givc/ca-cert.pem";
      certPath = "/etc/givc/gui-vm-cert.pem";
      keyPath = "/etc/givc/gui-vm-key.pem";
    };
  };
}
