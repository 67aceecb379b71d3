# SPDX-License-Identifier: Apache-2.0
#
# Every givc module: givc.host, givc.sysvm, givc.appvm, givc.admin and
# givc.dbusproxy, each off until enabled.
{
  imports = [ ./common.nix ];
}
