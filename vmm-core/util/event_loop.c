/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sources live in a list under one mutex; epoll carries a pointer to the
 * source, never the fd, so an fd that is closed and reused by a new source in
 * the same epoll batch cannot reach the old callback. A removed source is only
 * marked dead and freed after the batch that might still name it, which is
 * what makes removal from inside a callback (even the source's own) safe.
 */
#include "event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_BATCH 64

typedef struct Source {
    int fd;
    uint32_t events;
    EventCallback cb;
    void *ctx;
    bool dead;
    struct Source *next;
} Source;

struct EventLoop {
    int epoll_fd;
    int quit_fd;
    pthread_mutex_t lock;
    pthread_cond_t callback_done;
    Source *sources;   /* live, under lock */
    Source *graveyard; /* removed while a batch may still name them */
    Source *current;   /* source whose callback is running */
    bool running;      /* event_loop_run is active */
    pthread_t thread;  /* valid while running */
};

EventLoop *event_loop_new(void)
{
    EventLoop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    /* Non-blocking: quit from a signal handler must never block, even if
     * the counter were ever to saturate. */
    loop->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->epoll_fd < 0 || loop->quit_fd < 0)
        goto fail;
    /* A NULL data pointer marks the quit eventfd; sources are never NULL. */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->quit_fd, &ev) < 0)
        goto fail;
    pthread_mutex_init(&loop->lock, NULL);
    pthread_cond_init(&loop->callback_done, NULL);
    return loop;

fail:;
    int saved = errno;
    if (loop->epoll_fd >= 0)
        close(loop->epoll_fd);
    if (loop->quit_fd >= 0)
        close(loop->quit_fd);
    free(loop);
    errno = saved;
    return NULL;
}

static void free_list(Source *s)
{
    while (s) {
        Source *next = s->next;
        free(s);
        s = next;
    }
}

void event_loop_free(EventLoop *loop)
{
    if (!loop)
        return;
    free_list(loop->sources);
    free_list(loop->graveyard);
    close(loop->epoll_fd);
    close(loop->quit_fd);
    pthread_mutex_destroy(&loop->lock);
    pthread_cond_destroy(&loop->callback_done);
    free(loop);
}

static Source *find_locked(EventLoop *loop, int fd, Source ***link)
{
    for (Source **p = &loop->sources; *p; p = &(*p)->next) {
        if ((*p)->fd == fd) {
            if (link)
                *link = p;
            return *p;
        }
    }
    return NULL;
}

int event_loop_add(EventLoop *loop, int fd, uint32_t events, EventCallback cb, void *ctx)
{
    if (!loop || fd < 0 || !cb)
        return -EINVAL;
    Source *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fd = fd;
    s->events = events;
    s->cb = cb;
    s->ctx = ctx;

    pthread_mutex_lock(&loop->lock);
    int r = 0;
    if (find_locked(loop, fd, NULL)) {
        r = -EEXIST;
    } else {
        struct epoll_event ev = {.events = events, .data.ptr = s};
        if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
            r = -errno;
    }
    if (r == 0) {
        s->next = loop->sources;
        loop->sources = s;
    }
    pthread_mutex_unlock(&loop->lock);
    if (r < 0)
        free(s);
    return r;
}

int event_loop_modify(EventLoop *loop, int fd, uint32_t events)
{
    if (!loop)
        return -EINVAL;
    pthread_mutex_lock(&loop->lock);
    int r = 0;
    Source *s = find_locked(loop, fd, NULL);
    if (!s) {
        r = -ENOENT;
    } else if (s->events != events) {
        struct epoll_event ev = {.events = events, .data.ptr = s};
        if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0)
            r = -errno;
        else
            s->events = events;
    }
    pthread_mutex_unlock(&loop->lock);
    return r;
}

static bool on_loop_thread(const EventLoop *loop)
{
    return loop->running && pthread_equal(loop->thread, pthread_self());
}

int event_loop_remove(EventLoop *loop, int fd)
{
    if (!loop)
        return -EINVAL;
    pthread_mutex_lock(&loop->lock);
    Source **link;
    Source *s = find_locked(loop, fd, &link);
    if (!s) {
        pthread_mutex_unlock(&loop->lock);
        return -ENOENT;
    }
    /* EBADF/ENOENT here mean the caller closed the fd first; epoll already
     * forgot it, which is all removal needs. */
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    *link = s->next;
    s->dead = true;
    if (loop->running) {
        s->next = loop->graveyard;
        loop->graveyard = s;
        /* Another thread removing a source whose callback is in flight waits
         * for it, so the caller may free ctx once we return. The loop thread
         * itself is that callback (or another one) and must not wait. */
        while (loop->current == s && !on_loop_thread(loop))
            pthread_cond_wait(&loop->callback_done, &loop->lock);
    } else {
        free(s);
    }
    pthread_mutex_unlock(&loop->lock);
    return 0;
}

static void drain_quit(EventLoop *loop)
{
    uint64_t v;
    while (read(loop->quit_fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
}

int event_loop_run(EventLoop *loop)
{
    if (!loop)
        return -EINVAL;
    pthread_mutex_lock(&loop->lock);
    if (loop->running) {
        pthread_mutex_unlock(&loop->lock);
        return -EBUSY;
    }
    loop->running = true;
    loop->thread = pthread_self();
    pthread_mutex_unlock(&loop->lock);

    int r = 0;
    bool quit = false;
    while (!quit) {
        struct epoll_event evs[MAX_BATCH];
        int n = epoll_wait(loop->epoll_fd, evs, MAX_BATCH, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        for (int i = 0; i < n; i++) {
            Source *s = evs[i].data.ptr;
            if (!s) {
                drain_quit(loop);
                quit = true;
                continue;
            }
            pthread_mutex_lock(&loop->lock);
            if (s->dead) {
                pthread_mutex_unlock(&loop->lock);
                continue;
            }
            EventCallback cb = s->cb;
            void *ctx = s->ctx;
            loop->current = s;
            pthread_mutex_unlock(&loop->lock);

            cb(ctx, evs[i].events);

            pthread_mutex_lock(&loop->lock);
            loop->current = NULL;
            pthread_cond_broadcast(&loop->callback_done);
            pthread_mutex_unlock(&loop->lock);
        }
        /* Everything removed so far was removed from epoll before the next
         * epoll_wait, so no later batch can name it. */
        pthread_mutex_lock(&loop->lock);
        Source *dead = loop->graveyard;
        loop->graveyard = NULL;
        pthread_mutex_unlock(&loop->lock);
        free_list(dead);
    }

    pthread_mutex_lock(&loop->lock);
    loop->running = false;
    Source *dead = loop->graveyard;
    loop->graveyard = NULL;
    pthread_mutex_unlock(&loop->lock);
    free_list(dead);
    return r;
}

void event_loop_quit(EventLoop *loop)
{
    /* Only write(2): this runs in signal handlers. errno is preserved so an
     * interrupted syscall in the handled thread sees its own errno. */
    int saved = errno;
    uint64_t one = 1;
    ssize_t n = write(loop->quit_fd, &one, sizeof(one));
    (void)n;
    errno = saved;
}
