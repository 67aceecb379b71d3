# SPDX-License-Identifier: Apache-2.0
'''systemd localed mock template

Debian's python3-dbusmock 0.28 ships no localed template, so the integration
tests bring their own. It creates the methods and properties of the main
org.freedesktop.locale1 object. Property values ("Locale", "X11Layout", ...)
can be given in "parameters", e.g.
  python3 -m dbusmock --template tests/integration/dbusmock_localed.py \\
      -p '{"Locale": ["LANG=en_US.UTF-8"]}'

SetLocale() stores its array in the Locale property (or, with the parameter
"DenySetLocale": true, fails with AccessDenied, as polkit answers a user); the keyboard setters
store their arguments in the matching properties. Every call is recorded in
the mock's call log (org.freedesktop.DBus.Mock.GetCalls), which is what the
tests assert on.
'''

import dbus

BUS_NAME = 'org.freedesktop.locale1'
MAIN_OBJ = '/org/freedesktop/locale1'
MAIN_IFACE = 'org.freedesktop.locale1'
SYSTEM_BUS = True


def setProperty(prop, arg=0, signature=None):
    if signature:
        return f'self.Set("{MAIN_IFACE}", "{prop}", dbus.Array(args[{arg}], signature="{signature}"))'
    return f'self.Set("{MAIN_IFACE}", "{prop}", args[{arg}])'


DENIED = ('raise dbus.exceptions.DBusException("Access denied", '
          'name="org.freedesktop.DBus.Error.AccessDenied")')


def load(mock, parameters):
    mock.AddMethods(MAIN_IFACE, [
        # SetLocale(as locale, b interactive); "DenySetLocale": refused as polkit refuses a user
        ('SetLocale', 'asb', '', DENIED if parameters.get('DenySetLocale') else setProperty('Locale', 0, 's')),
        # SetVConsoleKeyboard(s keymap, s keymap_toggle, b convert, b interactive)
        ('SetVConsoleKeyboard', 'ssbb', '',
         setProperty('VConsoleKeymap', 0) + '; ' + setProperty('VConsoleKeymapToggle', 1)),
        # SetX11Keyboard(s layout, s model, s variant, s options, b convert, b interactive)
        ('SetX11Keyboard', 'ssssbb', '',
         setProperty('X11Layout', 0) + '; ' + setProperty('X11Model', 1) + '; ' +
         setProperty('X11Variant', 2) + '; ' + setProperty('X11Options', 3)),
    ])

    mock.AddProperties(MAIN_IFACE,
                       dbus.Dictionary({
                           'Locale': dbus.Array(parameters.get('Locale', ['LANG=C']), signature='s'),
                           'VConsoleKeymap': parameters.get('VConsoleKeymap', ''),
                           'VConsoleKeymapToggle': parameters.get('VConsoleKeymapToggle', ''),
                           'X11Layout': parameters.get('X11Layout', ''),
                           'X11Model': parameters.get('X11Model', ''),
                           'X11Variant': parameters.get('X11Variant', ''),
                           'X11Options': parameters.get('X11Options', ''),
                       }, signature='sv'))
