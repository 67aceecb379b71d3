# SPDX-License-Identifier: Apache-2.0
#
# A D-Bus proxy of the README's examples (givc.dbusproxy).
{
  givc.dbusproxy = {
    enable = true;
    system = {
      enable = true;
      user = "ghaf";
      socket = "/tmp/.dbusproxy_net.sock";
      policy.talk = [ "org.freedesktop.NetworkManager.*" ];
    };
  };
}
