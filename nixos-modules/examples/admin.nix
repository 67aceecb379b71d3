# SPDX-License-Identifier: Apache-2.0
#
# The admin VM of the README's example set-up (givc.admin).
{
  givc.admin = {
    enable = true;
    name = "admin-vm";
    addr = "192.168.101.10";
    port = "9001";
    restartVms = true;
    tls = {
      caCertPath = "/etc/givc/ca-cert.pem";
      certPath = "/etc/givc/admin-vm-cert.pem";
      keyPath = "/etc/givc/admin-vm-key.pem";
    };
  };
}
