# SPDX-License-Identifier: Apache-2.0
#
# Option declarations the role modules share (upstream's definitions.nix),
# the systemd sandboxing and service settings of the units, and the
# assertions the modules make of their problems. Only mkOption,
# mkEnableOption, types and literalExpression of nixpkgs' lib are used here.
{ lib }:
let
  env = import ./env.nix;
  inherit (lib)
    mkOption
    mkEnableOption
    types
    literalExpression
    ;

  # Ports are strings upstream ("9000"); numbers are accepted as well.
  portType = types.either types.str types.port;
in
rec {
  inherit portType;

  # The options of a transport (upstream's transportSubmodule). The defaults
  # are given by the caller: an agent's follow the role's older top-level
  # options (name, addr, port, protocol).
  transportOptions = defaults: {
    name = mkOption {
      type = types.str;
      default = defaults.name;
      description = "Name: the agent's unit is givc-NAME.service, and peers check it against the certificate's DNS names.";
    };
    addr = mkOption {
      type = types.str;
      default = defaults.addr;
      description = "Address: an IP address or host name for tcp, a socket path for unix, a name for abstract.";
    };
    port = mkOption {
      type = portType;
      default = defaults.port;
      description = "TCP port.";
    };
    protocol = mkOption {
      type = types.enum [
        "tcp"
        "unix"
        "abstract"
        "vsock"
      ];
      default = defaults.protocol;
      description = "Transport: tcp, unix or abstract (vsock is upstream's and is refused by this givc).";
    };
  };

  # The admin server an agent registers with. "enable" is accepted for
  # upstream's older configurations and has no effect.
  adminOption =
    defaults:
    mkOption {
      type = types.submodule {
        options = transportOptions defaults // {
          enable = mkOption {
            type = types.bool;
            default = true;
            description = "Ignored; accepted for upstream's older configurations.";
          };
        };
      };
      default = { };
      description = "The admin server this agent registers with.";
    };

  tlsOption = mkOption {
    type = types.submodule {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Mutual TLS. On by default; without it anyone who can reach the port is trusted.";
        };
        caCertPath = mkOption {
          type = types.str;
          default = "";
          description = "Path of the CA certificate peers must chain to.";
        };
        certPath = mkOption {
          type = types.str;
          default = "";
          description = "Path of this machine's certificate.";
        };
        keyPath = mkOption {
          type = types.str;
          default = "";
          description = "Path of this machine's private key.";
        };
      };
    };
    default = { };
    description = "TLS settings; the paths are required while tls.enable is true.";
  };

  debugOption = mkOption {
    type = types.bool;
    default = false;
    description = "Log debug messages.";
  };

  servicesOption =
    default:
    mkOption {
      type = types.listOf types.str;
      inherit default;
      example = literalExpression ''[ "reboot.target" "poweroff.target" "microvm@chromium-vm.service" ]'';
      description = "Units the agent may control; the services among them are registered with the admin.";
    };

  applicationOption = mkOption {
    type = types.listOf (
      types.submodule {
        options = {
          name = mkOption {
            type = types.str;
            description = "Application name; instances run as NAME@N.service.";
          };
          command = mkOption {
            type = types.str;
            description = "Command line, split at spaces (no shell).";
          };
          args = mkOption {
            type = types.listOf (
              types.enum [
                "flag"
                "url"
                "file"
              ]
            );
            default = [ ];
            description = "Kinds of arguments a start request may add: flag, url, file.";
          };
        };
      }
    );
    default = [ ];
    description = "Applications the agent may start, as transient user units.";
  };

  socketProxyOption =
    proxyServerDefault:
    mkOption {
      type = types.nullOr (
        types.listOf (
          types.submodule {
            options = {
              transport = mkOption {
                type = types.submodule {
                  options = transportOptions {
                    name = "localhost";
                    addr = "127.0.0.1";
                    port = "9000";
                    protocol = "tcp";
                  };
                };
                description = "The other end of the proxy.";
              };
              socket = mkOption {
                type = types.str;
                default = "/tmp/.dbusproxy.sock";
                description = "Unix socket to serve or connect to.";
              };
              server = mkOption {
                type = types.bool;
                default = proxyServerDefault;
                defaultText = literalExpression "config.givc.dbusproxy.enable";
                description = "Serve the socket (true) or connect to it (false).";
              };
            };
          }
        )
      );
      default = null;
      description = "Upstream's socket proxies. Accepted so configurations evaluate; this givc agent does not run them and warns.";
    };

  # The options of every agent role (givc.host, givc.sysvm, givc.appvm):
  #   option       the role's option path, "givc.host";
  #   cfg          its configuration (the older top-level name, addr, port
  #                and protocol are the defaults of agent.*);
  #   description  what enable switches on, "the givc agent of the host";
  #   services     the default of services.
  # The role adds the options of its own to this set.
  agentOptions =
    {
      option,
      cfg,
      description,
      services,
    }:
    {
      enable = mkEnableOption description;

      # Upstream's older spelling of agent.{name,addr,port,protocol}; they are
      # the defaults of agent.*, so either form works and agent.* wins.
      name = mkOption {
        type = types.str;
        default = "localhost";
        description = "The agent's name (older spelling of agent.name).";
      };
      addr = mkOption {
        type = types.str;
        default = "127.0.0.1";
        description = "The agent's address (older spelling of agent.addr).";
      };
      port = mkOption {
        type = portType;
        default = "9000";
        description = "The agent's port (older spelling of agent.port).";
      };
      protocol = mkOption {
        type = types.str;
        default = "tcp";
        description = "The agent's protocol (older spelling of agent.protocol).";
      };

      agent = mkOption {
        type = types.submodule {
          options = transportOptions {
            inherit (cfg) name addr port protocol;
          };
        };
        default = { };
        defaultText = literalExpression "{ inherit (config.${option}) name addr port protocol; }";
        description = "Where the agent listens, and the name on its certificate.";
      };

      admin = adminOption {
        name = "localhost";
        addr = "127.0.0.1";
        port = "9001";
        protocol = "tcp";
      };

      services = servicesOption services;
      tls = tlsOption;
      debug = debugOption;
    };

  # The assertions of a module: one failing assertion for each problem found
  # (the messages of env.nix's *Problems functions and the module's own).
  asAssertions = map (message: {
    assertion = false;
    inherit message;
  });

  # --- systemd sandboxing and service settings -------------------------------
  #
  # Checked against systemd 252 by tests/nix/test_units.py, which runs the
  # installed units (applets/units/, the same settings) under a real manager.

  # User units (the app VM agent, the session D-Bus proxy) run in an
  # unprivileged user manager: options that need a mount, UTS or IPC
  # namespace would need unprivileged user namespaces, which hardened VMs
  # may switch off, and a unit using them would then not start. What is left
  # is seccomp, which user managers can always apply.
  userHardening = {
    NoNewPrivileges = true;
    # gRPC over IPv4, IPv6 and unix sockets; D-Bus, sd_notify and the journal
    # are unix sockets. No vsock: gRPC core 1.51 has no vsock transport.
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
      "AF_INET6"
    ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    # Nothing is generated at run time (no JIT in gRPC core or OpenSSL).
    MemoryDenyWriteExecute = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged @resources"
    ];
    UMask = "0077";
  };

  # What every system unit of givc gets: the user units' settings and the
  # namespaces a system manager can always set up. The agent and the admin
  # only need sockets, their configuration files and (the admin) its state
  # directory.
  systemHardening = userHardening // {
    # The whole file system read-only, /home, /root and /run/user hidden,
    # private /tmp, /dev and IPC: nothing outside StateDirectory= is written.
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateIPC = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    # Only /proc/PID entries (the agent reads /proc/PID/status of units it
    # monitors where systemd does not account memory).
    ProcSubset = "pid";
    # Root keeps its uid (the system bus and systemd accept uid 0 for unit
    # control) but no capability except reading files it does not own: Ghaf's
    # certificate generator gives the certificates to microvm:kvm, mode 0770.
    CapabilityBoundingSet = [ "CAP_DAC_READ_SEARCH" ];
  };

  # The serviceConfig of a givc daemon (an agent or the admin) running the
  # command line argv in the sandbox hardening: it tells systemd when it is
  # ready and pings the watchdog (sd_notify), and is restarted whenever it
  # stops.
  daemonService =
    hardening: argv:
    hardening
    // {
      Type = "notify";
      ExecStart = env.execLine argv;
      Restart = "always";
      RestartSec = 1;
      # The main thread pings every 15 s; a process that stops being
      # scheduled (or hangs on its way out) is restarted.
      WatchdogSec = "30s";
    };
}
