# SPDX-License-Identifier: Apache-2.0
#
# An application VM of the README's example set-up (givc.appvm).
{
  givc.appvm = {
    enable = true;
    user = "ghaf";
    agent = {
      name = "chromium-vm";
      addr = "192.168.101.100";
      port = "9000";
    };
    admin = {
      name = "admin-vm";
      addr = "192.168.101.10";
      port = "9001";
    };
    applications = [
      {
        name = "chromium";
        command = "/run/current-system/sw/bin/chromium --enable-features=UseOzonePlatform --ozone-platform=wayland";
        args = [
          "url"
          "flag"
        ];
      }
      {
        name = "foot";
        command = "/run/current-system/sw/bin/foot";
      }
    ];
    tls = {
      caCertPath = "/etc/givc/ca-cert.pem";
      certPath = "/etc/givc/chromium-vm-cert.pem";
      keyPath = "/etc/givc/chromium-vm-key.pem";
    };
  };
}
