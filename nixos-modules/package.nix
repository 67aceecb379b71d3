# SPDX-License-Identifier: Apache-2.0
#
# The givc package: the meson build of this tree, with its unit tests run
# as the check phase. bin/givc-agent, bin/givc-admin and bin/givc-cli are
# symlinks to bin/givc that pick the role.
{
  lib,
  stdenv,
  meson,
  ninja,
  pkg-config,
  python3,
  protobuf,
  protobufc,
  grpc,
  systemd,
  openssl,
  json_c,
  cmocka,
}:
stdenv.mkDerivation {
  pname = "givc";
  version = "0.1.0";

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../meson.build
      ../meson_options.txt
      ../proto
      ../src
      ../applets
      ../tests
    ];
  };

  # The integration tests run Debian's /usr/bin/python3 (for its grpcio);
  # meson only needs some python to configure them here.
  postPatch = ''
    substituteInPlace tests/integration/meson.build \
      --replace-fail "'/usr/bin/python3'" "'${python3.interpreter}'"
  '';

  nativeBuildInputs = [
    meson
    ninja
    pkg-config
    python3
    protobuf
    protobufc
  ];

  buildInputs = [
    grpc
    protobufc
    systemd
    openssl
    json_c
    cmocka
  ];

  mesonFlags = [
    (lib.mesonOption "systemdsystemunitdir" "${placeholder "out"}/lib/systemd/system")
    (lib.mesonOption "systemduserunitdir" "${placeholder "out"}/lib/systemd/user")
  ];

  # The unit suite; the integration suite needs python3-grpcio, real systemd
  # managers and root, which the NixOS VM test covers instead.
  doCheck = true;
  checkPhase = ''
    runHook preCheck
    meson test --suite unit --print-errorlogs --num-processes $NIX_BUILD_CORES
    runHook postCheck
  '';

  meta = {
    description = "Ghaf inter-VM control plane: agent, admin and CLI in one binary";
    license = lib.licenses.asl20;
    platforms = lib.platforms.linux;
    mainProgram = "givc";
  };
}
