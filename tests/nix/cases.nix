# SPDX-License-Identifier: Apache-2.0
#
# Configurations the modules are evaluated with (tests/nix/eval.nix), each a
# list of configuration modules for one machine. test_nix_modules.py says
# what each must give.
{ examples }:
let
  tls = name: {
    caCertPath = "/etc/givc/ca-cert.pem";
    certPath = "/etc/givc/${name}-cert.pem";
    keyPath = "/etc/givc/${name}-key.pem";
  };
  admin = {
    name = "admin-vm";
    addr = "192.168.101.10";
    port = "9001";
  };

  # An agent role's configuration: enabled, registering with the admin, on
  # TLS with the certificate of its agent.name; `settings` adds options or
  # replaces these.
  agentConfig =
    settings:
    {
      enable = true;
      inherit admin;
      tls = tls settings.agent.name;
    }
    // settings;

  # A socket proxy to the gui-vm's port, serving or using socket.
  proxy =
    port: socket: settings:
    {
      transport = {
        name = "gui-vm";
        addr = "192.168.101.3";
        inherit port;
        protocol = "tcp";
      };
      inherit socket;
    }
    // settings;
in
{
  # Evaluated, with their assertions and warnings reported.
  machines = {
    # The README's example set-up, one machine each.
    host = [ (import (examples + "/host.nix")) ];
    admin = [ (import (examples + "/admin.nix")) ];
    sysvm = [ (import (examples + "/sysvm.nix")) ];
    appvm = [ (import (examples + "/appvm.nix")) ];
    dbusproxy = [ (import (examples + "/dbusproxy.nix")) ];

    # Upstream's older form: name/addr/port/protocol at the top, admin.enable.
    # Must give the same environment as the example host.
    host-older-form = [
      {
        givc.host = {
          enable = true;
          name = "ghaf-host";
          addr = "192.168.101.2";
          port = "9000";
          protocol = "tcp";
          admin = admin // {
            enable = true;
            protocol = "tcp";
          };
          services = (import (examples + "/host.nix")).givc.host.services;
          tls = tls "ghaf-host";
        };
      }
    ];

    # Upstream's later options: debug, hwid, wifiManager, socket proxies and
    # a D-Bus proxy; ports as numbers.
    sysvm-upstream = [
      {
        givc.sysvm = agentConfig {
          agent = {
            name = "net-vm";
            addr = "192.168.101.1";
            port = 9000;
            protocol = "tcp";
          };
          admin = admin // {
            port = 9001;
          };
          debug = true;
          wifiManager = true;
          hwidService = true;
          hwidIface = "lo";
          # server: its default, givc.dbusproxy.enable.
          socketProxy = [ (proxy "9010" "/tmp/.dbusproxy_net.sock" { }) ];
        };
        givc.dbusproxy = {
          enable = true;
          system = {
            enable = true;
            user = "ghaf";
            socket = "/tmp/.dbusproxy_net.sock";
            policy = {
              talk = [
                "org.freedesktop.NetworkManager.*"
                "org.freedesktop.Avahi.*"
              ];
              call = [ "org.freedesktop.UPower=org.freedesktop.UPower.EnumerateDevices" ];
            };
          };
        };
      }
    ];

    appvm-upstream = [
      {
        users.users.ghaf = {
          isNormalUser = true;
          uid = 1000;
        };
        givc.appvm = agentConfig {
          agent = {
            name = "chromium-vm";
            addr = "192.168.101.100";
            port = "9000";
            protocol = "tcp";
          };
          applications = [
            {
              name = "clearexit";
              command = "/run/current-system/sw/bin/sleep 5";
            }
          ];
          socketProxy = [ (proxy "9013" "/tmp/.dbusproxy_app.sock" { server = true; }) ];
        };
        givc.dbusproxy = {
          enable = true;
          session = {
            enable = true;
            user = "ghaf";
            socket = "/tmp/.dbusproxy_app.sock";
            policy.talk = [ "org.mpris.MediaPlayer2.playerctld.*" ];
          };
        };
      }
    ];

    # The admin and the host agent on one machine (as in tests), plaintext.
    admin-and-host-plaintext = [
      {
        givc.admin = admin // {
          enable = true;
          addr = "127.0.0.1";
          debug = true;
          tls.enable = false;
        };
        givc.host = agentConfig {
          agent = {
            name = "ghaf-host";
            addr = "127.0.0.1";
            port = "9000";
          };
          admin = admin // {
            addr = "127.0.0.1";
          };
          tls.enable = false;
        };
      }
    ];

    # Mistakes, each caught by an assertion.
    tls-without-paths = [
      {
        # TLS on (the default), without paths.
        givc.host = agentConfig {
          agent.name = "ghaf-host";
          tls = { };
        };
      }
    ];
    tls-without-key = [
      {
        givc.admin = admin // {
          enable = true;
          tls = (tls "admin-vm") // {
            keyPath = "";
          };
        };
      }
    ];
    duplicate-ports = [
      {
        givc.admin = admin // {
          enable = true;
          tls.enable = false;
        };
        givc.host = agentConfig {
          agent = {
            name = "ghaf-host";
            addr = "192.168.101.10";
            port = "9001";
          };
          tls.enable = false;
        };
      }
    ];
    duplicate-proxies = [
      {
        givc.sysvm = agentConfig {
          agent.name = "audio-vm";
          tls.enable = false;
          socketProxy = map (socket: proxy "9011" socket { server = true; }) [
            "/tmp/.dbusproxy_snd.sock"
            "/tmp/.dbusproxy_snd.sock"
          ];
        };
      }
    ];
    host-without-services = [
      {
        givc.host = agentConfig {
          agent.name = "ghaf-host";
          services = [ ];
        };
      }
    ];
    vsock = [
      {
        givc.sysvm = agentConfig {
          agent = {
            name = "gui-vm";
            addr = "3";
            port = "9000";
            protocol = "vsock";
          };
        };
      }
    ];
    bad-port = [
      {
        givc.appvm = agentConfig {
          agent = {
            name = "chromium-vm";
            port = "90a0";
          };
        };
      }
    ];
    bad-name = [
      {
        givc.host = agentConfig {
          agent.name = "ghaf host";
          tls = tls "ghaf-host";
        };
      }
    ];
    duplicate-applications = [
      {
        givc.appvm = agentConfig {
          agent.name = "chromium-vm";
          applications = [
            {
              name = "foot";
              command = "/run/current-system/sw/bin/foot";
            }
            {
              name = "foot";
              command = "  ";
            }
          ];
        };
      }
    ];
    dbusproxy-without-policy = [
      {
        givc.dbusproxy = {
          enable = true;
          system.enable = true;
        };
      }
    ];
  };

  # Configurations the module system itself refuses (evaluation fails).
  refused = {
    unknown-option = [
      {
        givc.host = {
          enable = true;
          nmae = "ghaf-host";
        };
      }
    ];
    unknown-argument-type = [
      {
        givc.appvm = {
          enable = true;
          tls.enable = false;
          applications = [
            {
              name = "foot";
              command = "foot";
              args = [ "path" ];
            }
          ];
        };
      }
    ];
    port-of-wrong-type = [
      {
        givc.admin = {
          enable = true;
          tls.enable = false;
          port = true;
        };
      }
    ];
  };
}
