# Sourced by the ensure-*.sh scripts: test runs started together on a machine without the cache build
# once; the others wait here on a lock beside the build's directory, then find the build done.
lock_build() {
  mkdir -p "$(dirname "$1")"
  exec 9>"$1.lock"
  flock 9
}
