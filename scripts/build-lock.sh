# Sourced by the ensure-*.sh scripts. Test runs started together on a machine without the cache build
# once: the others wait on a lock beside the build's directory, then find the build done.

# True when every named file is an executable in directory $1.
all_built() {
  local dir="$1" file
  shift
  for file in "$@"; do [[ -x "$dir/$file" ]] || return 1; done
}

# Prints ANSWER and exits when the binaries are in DIR; otherwise takes DIR's build lock (waiting out
# a build already running) and looks again, returning only when this run is to build them.
#   reuse_or_lock ANSWER DIR BINARY...
reuse_or_lock() {
  local answer="$1" dir="$2"
  shift 2
  if all_built "$dir" "$@"; then echo "$answer"; exit 0; fi
  mkdir -p "$(dirname "$dir")"
  exec 9>"$dir.lock"
  flock 9
  if all_built "$dir" "$@"; then echo "$answer"; exit 0; fi
}
