#ifndef TPUDEPLOY_CLIBSSH_SHIM_H
#define TPUDEPLOY_CLIBSSH_SHIM_H
#include <libssh/libssh.h>
#include <libssh/sftp.h>
// ssh_send_keepalive() is declared here in libssh 0.10.
#include <libssh/server.h>
#endif
