# SPDX-License-Identifier: Apache-2.0
#
# A stand-in for the small part of nixpkgs' lib and module system that the
# givc modules use, so that the real module files can be evaluated where
# nixpkgs is not available (CI has Debian's nix-instantiate only).
#
# What it does like the module system: collects modules through imports
# (each file once), merges their option declarations, gives every option
# its definition or its default (inside submodules and lists of submodules
# too), refuses options that are not declared and values of the wrong type,
# resolves mkIf and mkMerge, and merges the modules' config definitions
# (attribute sets recursively, lists concatenated, other values only when
# equal).
#
# What it does not: priorities (mkDefault, mkForce), more than one
# definition of an option, or any lib function the modules do not use; a
# module using one fails here with "attribute missing". It is no substitute
# for evaluating with nixpkgs, which `nix flake check` does (README).
let
  inherit (builtins)
    all
    attrNames
    elem
    filter
    foldl'
    genericClosure
    isAttrs
    isBool
    isFunction
    isInt
    isList
    isString
    listToAttrs
    mapAttrs
    toJSON
    ;

  # --- lib ----------------------------------------------------------------

  mkType = name: check: extra: { inherit name check; } // extra;

  types = {
    bool = mkType "boolean" isBool { };
    str = mkType "string" isString { };
    port = mkType "16 bit unsigned integer" (v: isInt v && v >= 0 && v <= 65535) { };
    # Packages are stood in for by store path strings.
    package = mkType "package" (v: isAttrs v || isString v) { };
    enum = values: mkType "one of ${toJSON values}" (v: elem v values) { };
    listOf = t: mkType "list of ${t.name}" isList { elemType = t; };
    nullOr = t: mkType "null or ${t.name}" (v: v == null || t.check v) { nullOf = t; };
    either =
      a: b:
      mkType "${a.name} or ${b.name}" (v: a.check v || b.check v) {
        eitherOf = [
          a
          b
        ];
      };
    submodule =
      m:
      mkType "submodule" isAttrs {
        options = (if isFunction m then m { } else m).options;
      };
  };

  lib = {
    inherit types;
    mkOption = o: o // { _type = "option"; };
    mkEnableOption = name: {
      _type = "option";
      type = types.bool;
      default = false;
      description = "Whether to enable ${name}.";
    };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkMerge = contents: {
      _type = "merge";
      inherit contents;
    };
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
  };

  # --- option values ------------------------------------------------------

  isOption = v: isAttrs v && (v._type or null) == "option";

  # A value of type t, with the defaults of submodule options filled in.
  fill =
    path: t: v:
    if t ? options then
      if !isAttrs v then
        throw "The option `${path}' is not of type `${t.name}'."
      else
        fillOptions path t.options v
    else if t ? elemType then
      if !isList v then
        throw "The option `${path}' is not of type `${t.name}'."
      else
        map (x: fill "${path}.*" t.elemType x) v
    else if t ? nullOf then
      if v == null then null else fill path t.nullOf v
    else if t ? eitherOf then
      let
        matching = filter (u: u.check v) t.eitherOf;
      in
      if matching == [ ] then
        throw "The option `${path}' is not of type `${t.name}'."
      else
        fill path (builtins.head matching) v
    else if t.check v then
      v
    else
      throw "The option `${path}' is not of type `${t.name}': ${toJSON v}.";

  fillOption =
    path: opt: defs: name:
    if defs ? ${name} then
      fill path opt.type defs.${name}
    else if opt ? default then
      fill path opt.type opt.default
    else
      throw "The option `${path}' is used but not defined.";

  # Declared options (a tree with options at its leaves) and definitions.
  fillOptions =
    path: decls: defs:
    let
      unknown = filter (n: !(decls ? ${n})) (attrNames defs);
    in
    if unknown != [ ] then
      throw "The option `${path}.${builtins.head unknown}' does not exist."
    else
      mapAttrs (
        name: decl:
        if isOption decl then
          fillOption "${path}.${name}" decl defs name
        else
          fillOptions "${path}.${name}" decl (defs.${name} or { })
      ) decls;

  # --- config definitions ---------------------------------------------------

  absent = {
    _type = "absent";
  };

  resolve =
    v:
    if isAttrs v && (v._type or null) == "if" then
      if v.condition then resolve v.content else absent
    else if isAttrs v && (v._type or null) == "merge" then
      mergeAll (filter (x: x != absent) (map resolve v.contents))
    else if isAttrs v && !(v ? _type) then
      let
        resolved = mapAttrs (_: resolve) v;
      in
      listToAttrs (
        map (n: {
          name = n;
          value = resolved.${n};
        }) (filter (n: resolved.${n} != absent) (attrNames resolved))
      )
    else
      v;

  merge =
    path: a: b:
    if isAttrs a && isAttrs b && !(a ? _type) && !(b ? _type) then
      a
      // mapAttrs (n: bv: if a ? ${n} then merge "${path}.${n}" a.${n} bv else bv) b
    else if isList a && isList b then
      a ++ b
    else if a == b then
      a
    else
      throw "The option `${path}' has conflicting definitions: ${toJSON a} and ${toJSON b}.";

  mergeAll = foldl' (merge "config") { };

  # --- modules ----------------------------------------------------------------

  # Evaluates modules (paths) together with configuration modules (values).
  evalModules =
    {
      modules,
      configuration,
      pkgs,
    }:
    let
      args = {
        inherit lib pkgs config;
      };
      # A module file applied to the (lazy) module arguments.
      load =
        path:
        let
          m = import path;
          v = if isFunction m then m args else m;
        in
        if all (n: elem n [ "imports" "options" "config" ]) (attrNames v) then
          v
        else
          throw "stub: ${path} is not of the form { imports; options; config; }";
      # Every module file reachable through imports, each once.
      files = map (e: e.key) (genericClosure {
        startSet = map (p: { key = toString p; }) modules;
        operator = e: map (p: { key = toString p; }) ((load e.key).imports or [ ]);
      });
      loaded = map load files;
      declarations = foldl' (merge "options") { } (map (m: m.options or { }) loaded);
      userDefinitions = mergeAll configuration;
      config = userDefinitions // {
        givc = fillOptions "givc" declarations.givc (userDefinitions.givc or { });
      };
      result = mergeAll (filter (x: x != absent) (map (m: resolve (m.config or { })) loaded));
    in
    {
      inherit config result;
      failedAssertions = map (a: a.message) (filter (a: !a.assertion) (result.assertions or [ ]));
      warnings = result.warnings or [ ];
    };
in
{
  inherit lib evalModules;
}
