#!/usr/bin/env bash
# Makes sure a MySQL-compatible server binary (mariadbd or mysqld) is installed, so that
# src/db/local-mysql.ts can run a private instance for the tests and `npm start`.
# Idempotent: does nothing when a server is already there. Installs MariaDB with apt-get when
# running as root on Debian/Ubuntu; otherwise prints what to do and exits 1.
set -euo pipefail

find_server() {
  local name dir
  for name in mariadbd mysqld; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
    for dir in /usr/sbin /usr/local/sbin /usr/local/mysql/bin; do
      if [[ -x "$dir/$name" ]]; then
        echo "$dir/$name"
        return 0
      fi
    done
  done
  return 1
}

if server="$(find_server)"; then
  echo "install-mysql: found $server"
  exit 0
fi

if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "install-mysql: installing mariadb-server with apt-get"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mariadb-server
  # The package may start a system service on 3306; local-mysql.ts never uses it (it runs its
  # own instance on a private port and data dir), so it is left alone.
  if server="$(find_server)"; then
    echo "install-mysql: installed $server"
    exit 0
  fi
  echo "install-mysql: mariadb-server installed but no mariadbd/mysqld found" >&2
  exit 1
fi

cat >&2 <<'MSG'
install-mysql: no MySQL or MariaDB server (mariadbd or mysqld) found, and cannot install one
automatically (that needs root and apt-get). Do one of:
  - Debian/Ubuntu:  sudo apt-get install -y mariadb-server
  - macOS:          brew install mariadb
  - other systems:  install MariaDB 10.11+ or MySQL 8 so that mariadbd or mysqld is in PATH,
                    /usr/sbin, /usr/local/sbin or /usr/local/mysql/bin
  - or point the service at an existing server:  export MYSQL_URL=mysql://USER@HOST:PORT/payments
MSG
exit 1
