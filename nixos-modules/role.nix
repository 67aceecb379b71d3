# SPDX-License-Identifier: Apache-2.0
#
# One role of the givc binary as a package of its own: bin/givc-ROLE, a
# symlink to bin/givc of the givc package (the binary picks the role from
# the name it was started as), so `nix run .#givc-agent` works.
{
  runCommand,
  givc,
  role,
}:
runCommand "givc-${role}-${givc.version}"
  {
    passthru = {
      inherit givc;
    };
    meta = givc.meta // {
      description = "givc ${role} (the givc binary under its role name)";
      mainProgram = "givc-${role}";
    };
  }
  ''
    mkdir -p $out/bin
    ln -s ${givc}/bin/givc $out/bin/givc-${role}
  ''
