/* fake_bird.h — a fake BIRD for the unit tests: a thread serving BIRD's control-socket
 * protocol on a unix socket in a scratch folder, with scripted answers and failure modes
 * (silence, a connection closed mid-reply, a bad greeting, refused configurations). */
#ifndef TABBY_TEST_FAKE_BIRD_H
#define TABBY_TEST_FAKE_BIRD_H

#include <pthread.h>
#include <stdbool.h>

enum fake_mode { FAKE_NORMAL, FAKE_SILENT, FAKE_CLOSE_MID_REPLY, FAKE_BAD_GREETING };

struct fake {
    char dir[64];
    char path[96];
    int listen_fd;
    int conn_fd;            /* the connection being served, -1 between them */
    pthread_t thread;
    enum fake_mode mode;
    bool reject_config;     /* configure check answers 8002 */
    int connections;
    int commands;
    char last[1024];
};

/* Makes the scratch folder and starts serving on <folder>/bird.ctl. */
void fake_start(struct fake *f, enum fake_mode mode);
/* Starts serving again on the same path (BIRD is back). */
void fake_listen(struct fake *f);
/* Stops serving; the socket file goes, as when BIRD exits. */
void fake_stop(struct fake *f);
/* Stops and removes the scratch folder. */
void fake_remove(struct fake *f);

#endif
