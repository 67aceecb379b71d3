# SPDX-License-Identifier: Apache-2.0
#
# What the givc NixOS modules hand to the binary: the environment of each
# role's unit and the admin's command line, as pure functions of a module's
# configuration (with its defaults applied), and the problems of a
# configuration that the binary would refuse, as assertion messages. Only
# builtins are used, so the tests evaluate this, and the modules through it,
# without nixpkgs.
#
# The environment is upstream's (spec §2.1, §3.1), in the form the givc
# agent and admin read (src/agent-config.c, src/admin-config.c): JSON for
# AGENT, ADMIN_SERVER, TLS_CONFIG, SOCKET_PROXY and APPLICATIONS, ports as
# strings inside the JSON, booleans as "true"/"false".
let
  inherit (builtins)
    concatMap
    concatStringsSep
    elem
    filter
    fromJSON
    genericClosure
    length
    map
    match
    replaceStrings
    toJSON
    ;

  optionalAttrs = cond: attrs: if cond then attrs else { };
in
rec {
  # Upstream's unit types (TYPE of the agent, SUBTYPE of its services).
  unitTypes = {
    host = {
      type = 0;
      subtype = 1;
    };
    admin = {
      type = 4;
      subtype = 5;
    };
    sysvm = {
      type = 8;
      subtype = 9;
    };
    appvm = {
      type = 12;
      subtype = 13;
    };
  };

  # The protocols the binary can listen on and connect with (src/address.c).
  protocols = [
    "tcp"
    "unix"
    "abstract"
  ];

  # Application argument types the agent knows (src/applications.c).
  applicationArgTypes = [
    "flag"
    "url"
    "file"
  ];

  boolString = b: if b then "true" else "false";

  # Ports are strings upstream ("9000"); numbers are accepted too.
  portString = p: toString p;

  # The port as a number, or null unless it is a decimal from 1 to 65535.
  portNumber =
    p:
    let
      s = toString p;
    in
    if match "[1-9][0-9]{0,4}" s == null then
      null
    else if fromJSON s > 65535 then
      null
    else
      fromJSON s;

  # The names the binary accepts for an agent (src/agent-config.c).
  nameIsValid = s: match "[A-Za-z0-9._-]{1,200}" s != null;

  transport = t: {
    inherit (t) name addr protocol;
    port = portString t.port;
  };

  tlsConfig = tls: {
    inherit (tls)
      enable
      caCertPath
      certPath
      keyPath
      ;
  };

  proxy = p: {
    transport = transport p.transport;
    inherit (p) socket server;
  };

  application = a: {
    inherit (a) name command args;
  };

  # The TCP ports a transport opens, for the firewall.
  tcpPorts =
    t:
    if t.protocol == "tcp" && portNumber t.port != null then [ (portNumber t.port) ] else [ ];

  # The socket proxies of an agent that has the option (socketProxy = null:
  # none).
  socketProxies = cfg: if cfg.socketProxy == null then [ ] else cfg.socketProxy;

  # The TCP ports of such an agent and of its socket proxies.
  agentTcpPorts =
    cfg: tcpPorts cfg.agent ++ concatMap (p: tcpPorts p.transport) (socketProxies cfg);

  # Environment of the agent of role "host", "sysvm" or "appvm".
  agentEnvironment =
    role: cfg:
    {
      AGENT = toJSON (transport cfg.agent);
      ADMIN_SERVER = toJSON (transport cfg.admin);
      TLS_CONFIG = toJSON (tlsConfig cfg.tls);
      TYPE = toString unitTypes.${role}.type;
      SUBTYPE = toString unitTypes.${role}.subtype;
      DEBUG = boolString cfg.debug;
    }
    // optionalAttrs (cfg.services != [ ]) { SERVICES = concatStringsSep " " cfg.services; }
    # VMs are started by the host as microvm@NAME.service; upstream reports that.
    // optionalAttrs (role != "host") { PARENT = "microvm@${cfg.agent.name}.service"; }
    // optionalAttrs (role == "sysvm") {
      WIFI = boolString cfg.wifiManager;
      HWID = boolString cfg.hwidService;
    }
    // optionalAttrs (role == "sysvm" && cfg.hwidIface != "") { HWID_IFACE = cfg.hwidIface; }
    // optionalAttrs (role != "host" && cfg.socketProxy != null) {
      SOCKET_PROXY = toJSON (map proxy cfg.socketProxy);
    }
    // optionalAttrs (role == "appvm") {
      APPLICATIONS = toJSON (map application cfg.applications);
    };

  # Environment of the admin. NAME, PROTO, TYPE and SUBTYPE are upstream's;
  # the admin ignores them, like upstream's.
  adminEnvironment =
    cfg:
    {
      NAME = cfg.name;
      ADDR = cfg.addr;
      PORT = portString cfg.port;
      PROTO = cfg.protocol;
      TYPE = toString unitTypes.admin.type;
      SUBTYPE = toString unitTypes.admin.subtype;
      TLS = boolString cfg.tls.enable;
    }
    // optionalAttrs (cfg.services != [ ]) { SERVICES = concatStringsSep " " cfg.services; }
    // optionalAttrs cfg.tls.enable {
      CA_CERT = cfg.tls.caCertPath;
      HOST_CERT = cfg.tls.certPath;
      HOST_KEY = cfg.tls.keyPath;
    }
    // optionalAttrs cfg.debug { GIVC_LOG = "debug"; };

  # The admin's options that have no environment variable.
  adminArguments =
    cfg:
    (if cfg.monitorInterval != null then [ "--monitor-interval=${cfg.monitorInterval}" ] else [ ])
    ++ (if cfg.vmStartTimeout != null then [ "--vm-start-timeout=${cfg.vmStartTimeout}" ] else [ ])
    ++ (if cfg.restartVms then [ "--restart-vms" ] else [ ]);

  # One word of a systemd ExecStart= line: quoted unless plainly safe, with
  # systemd's specifier (%) and variable ($) expansion escaped.
  execArgument =
    s:
    if match "[A-Za-z0-9_./:=@+,-]+" s != null then
      s
    else
      "\"" + replaceStrings [ "\\" "\"" "%" "$" ] [ "\\\\" "\\\"" "%%" "$$" ] s + "\"";

  execLine = words: concatStringsSep " " (map execArgument words);

  # The values that occur more than once in a list, each once.
  duplicates =
    list:
    let
      counted = map (v: {
        key = toJSON v;
        value = v;
        n = length (filter (w: w == v) list);
      }) list;
    in
    map (e: e.value) (
      genericClosure {
        startSet = filter (e: e.n > 1) counted;
        operator = _: [ ];
      }
    );

  # The problems of a TLS configuration, as assertion messages.
  tlsProblems =
    option: tls:
    let
      missing = filter (k: tls.${k} == "") [
        "caCertPath"
        "certPath"
        "keyPath"
      ];
    in
    if tls.enable && missing != [ ] then
      [
        "${option}.tls.enable is true but ${
          concatStringsSep ", " (map (k: "${option}.tls.${k}") missing)
        } ${
          if length missing == 1 then "is" else "are"
        } empty: give the paths of the CA certificate, this machine's certificate and its key, or set ${option}.tls.enable = false (plaintext, for tests only)."
      ]
    else
      [ ];

  # The problems of a transport (own endpoint or the admin's).
  transportProblems =
    option: t:
    (
      if !(elem t.protocol protocols) then
        [
          "${option}.protocol = \"${t.protocol}\" is not supported by this givc: use ${concatStringsSep ", " protocols}${
            if t.protocol == "vsock" then " (gRPC core 1.51 has no vsock transport)" else ""
          }."
        ]
      else
        [ ]
    )
    ++ (
      if t.protocol == "tcp" && portNumber t.port == null then
        [ "${option}.port = \"${toString t.port}\" is not a port number (1 to 65535)." ]
      else
        [ ]
    )
    ++ (if t.addr == "" then [ "${option}.addr is empty." ] else [ ]);

  # The problems every agent role (option "givc.host", ...) checks: TLS, its
  # own endpoint and name, the admin's endpoint.
  agentProblems =
    option: cfg:
    tlsProblems option cfg.tls
    ++ transportProblems "${option}.agent" cfg.agent
    ++ transportProblems "${option}.admin" cfg.admin
    ++ (
      if nameIsValid cfg.agent.name then
        [ ]
      else
        [
          "${option}.agent.name = \"${cfg.agent.name}\" may only contain letters, digits, '-', '_' and '.'."
        ]
    );

  # The problem of an agent that must control some units (host, sysvm) and
  # is given none; advice says what to give.
  servicesProblems =
    option: cfg: advice:
    if cfg.services == [ ] then [ "${option}.services is empty: ${advice}" ] else [ ];

  # The problems of an agent's socket proxies: ports and sockets used twice.
  socketProxyProblems =
    option: cfg:
    map (p: "${option}.socketProxy: port ${toString p} is used by more than one proxy or by the agent.") (
      duplicates (agentTcpPorts cfg)
    )
    ++ map (s: "${option}.socketProxy: the socket ${s} is used by more than one proxy.") (
      duplicates (map (p: p.socket) (socketProxies cfg))
    );

  # The warning of an agent whose socket proxies are set: it does not run them.
  socketProxyWarnings =
    option: cfg:
    if cfg.socketProxy != null then
      [ "${option}.socketProxy is set, but this givc agent does not run socket proxies." ]
    else
      [ ];

  # Problems of an application manifest list (what the agent would refuse).
  applicationProblems =
    option: apps:
    let
      names = map (a: a.name) apps;
    in
    (map (n: "${option}: the application name \"${n}\" is used more than once.") (duplicates names))
    ++ (map (a: "${option}: an application has no name.") (filter (a: a.name == "") apps))
    ++ (map (a: "${option}: the application \"${a.name}\" has an empty command.") (
      filter (a: match "[[:space:]]*" a.command != null) apps
    ));
}
