/*
 * The gdb stub: gdb's remote serial protocol on a character device (-s,
 * -gdb DEV, HMP gdbserver). One client at a time; each vCPU is a thread
 * (ids 1..N). gdb attaching stops the VM; `continue` runs it and the stop
 * that follows is reported: SIGTRAP with the vCPU and the breakpoint or
 * watchpoint that fired (system/debug.c, made to happen by the
 * accelerator), or SIGINT (Ctrl-C, the monitor's stop). Registers come
 * from the vCPU's state snapshot (target/x86/gdb.c) and memory is read
 * and written through a page walk in the vCPU's current mode, or
 * physically after `maint packet Qqemu.PhyMemMode:1`.
 *
 * Every packet is hostile input: lengths are bounded, numbers checked, and
 * anything unknown gets the empty reply that tells gdb so.
 */
#include <inttypes.h>
#include <string.h>

#include "chardev/char.h"
#include "gdbstub/gdbstub.h"
#include "gdbstub/packet.h"
#include "hw/i386/x86.h"
#include "monitor/monitor.h"
#include "system/debug.h"
#include "system/memory.h"
#include "system/runstate.h"
#include "system/vm.h"
#include "target/x86/gdb.h"
#include "util/opts.h"

/* The most memory one m packet returns: its hex must fit a packet. */
#define GDB_MEM_MAX ((GDB_PACKET_MAX - 16) / 2)

typedef struct GdbServer {
    Chardev *chr;
    GdbReader rd;
    bool connected;
    bool no_ack;            /* QStartNoAckMode agreed */
    GString *last;          /* the last packet sent, for a NAK */
    int g_cpu;              /* Hg: the thread g, p, m, M read */
    int c_cpu;              /* Hc: the thread s steps */
    bool running;           /* gdb let the VM run: report its next stop */
    bool phys;              /* Qqemu.PhyMemMode: addresses are physical */
    VMStateChangeEntry *vm_change;
} GdbServer;

static GdbServer *server;

/* ---- replies ---- */

static void send_packet(GdbServer *s, const void *data, size_t len)
{
    g_string_truncate(s->last, 0);
    gdb_packet_encode(s->last, data, len);
    chardev_write(s->chr, (const uint8_t *)s->last->str, s->last->len);
}

static void reply(GdbServer *s, const char *text)
{
    send_packet(s, text, strlen(text));
}

static void reply_gstr(GdbServer *s, GString *g)
{
    send_packet(s, g->str, g->len);
}

static void reply_stop(GdbServer *s, int sig)
{
    g_autofree char *t = g_strdup_printf("T%02xthread:%02x;", sig,
                                         s->g_cpu + 1);
    reply(s, t);
}

/* The stop a breakpoint, watchpoint or step made: SIGTRAP, the vCPU
 * (which gdb and its g, m then look at) and the reason. */
static void reply_debug_stop(GdbServer *s, const GuestDebugHit *hit)
{
    static const char *const watch[] = {
        [DEBUG_WP_WRITE] = "watch", [DEBUG_WP_READ] = "rwatch",
        [DEBUG_WP_ACCESS] = "awatch",
    };
    GString *t = g_string_new(NULL);

    s->g_cpu = s->c_cpu = hit->cpu;
    g_string_printf(t, "T05thread:%02x;", hit->cpu + 1);
    if (hit->why == DEBUG_STOP_WATCH) {
        g_string_append_printf(t, "%s:%" PRIx64 ";", watch[hit->point.type],
                               hit->point.addr);
    } else if (hit->why == DEBUG_STOP_BREAK) {
        g_string_append(t, hit->point.type == DEBUG_BP_SW ? "swbreak:;"
                                                          : "hwbreak:;");
    }
    reply_gstr(s, t);
    g_string_free(t, TRUE);
}

/* ---- the VM ---- */

static Machine *machine(void)
{
    return machine_current();
}

static CPUState *thread_cpu(int64_t tid)
{
    Machine *m = machine();

    return m && tid >= 1 && tid <= m->ncpus ? m->cpus[tid - 1] : NULL;
}

/*
 * Changes the machine's debug set, the vCPUs parked around it (a client
 * may send Z while the VM runs).
 */
static bool debug_change(bool (*fn)(Machine *m, void *arg, GError **errp),
                         void *arg, GError **errp)
{
    Machine *m = machine();
    bool was_running = vcpus_inspect_begin(m);
    bool ok = fn(m, arg, errp);

    vcpus_inspect_end(m, was_running);
    return ok;
}

static bool do_clear(Machine *m, void *arg, GError **errp)
{
    guest_debug_clear(m);
    return true;
}

static bool do_step(Machine *m, void *arg, GError **errp)
{
    return guest_debug_set_step(m, *(int *)arg, errp);
}

/* The VM stopped while gdb waited for it: tell gdb why. */
static void vm_changed(void *opaque, bool running)
{
    GdbServer *s = opaque;

    if (running || !s->running || !s->connected) {
        return;
    }
    s->running = false;
    /* the vCPUs are parked: a step is over whatever stopped the VM */
    guest_debug_set_step(machine(), -1, NULL);
    if (runstate_get() == RUN_STATE_DEBUG) {
        reply_debug_stop(s, guest_debug_last_hit());
    } else {
        reply_stop(s, 2);   /* SIGINT, as QEMU */
    }
}

/* Runs the VM, vCPU step (or -1) single-stepping. */
static void resume(GdbServer *s, int step)
{
    g_autoptr(GError) err = NULL;

    if (!debug_change(do_step, &step, &err)) {
        g_autofree char *r = g_strdup_printf("E.%s", err->message);
        reply(s, r);
        return;
    }
    s->running = true;
    if (!runstate_is_running() && !vm_start(machine(), &err)) {
        /* it cannot run (shut down, migrating): say it stopped */
        s->running = false;
        reply_stop(s, 2);
    }
}

/* ---- memory ---- */

/* Moves len bytes at addr (virtual for the current thread, or physical);
 * returns how many could be moved before an unmapped address. */
static size_t mem_rw(GdbServer *s, uint64_t addr, uint8_t *buf, size_t len,
                     bool write)
{
    Machine *m = machine();
    X86CPUSnapshot snap;
    size_t done = 0;

    if (!s->phys &&
        !x86_cpu_get_snapshot(m->cpus[s->g_cpu], &snap, NULL)) {
        return 0;
    }
    while (done < len) {
        uint64_t gpa = addr, page = 4096;
        if (!s->phys && !x86_page_walk(&m->as_mem, &snap, addr, &gpa,
                                       &page)) {
            break;
        }
        size_t n = MIN(len - done, page - (addr & (page - 1)));
        MemTxResult r = write
            ? address_space_write(&m->as_mem, gpa, buf + done, n)
            : address_space_read(&m->as_mem, gpa, buf + done, n);
        if (r != MEMTX_OK) {
            break;
        }
        done += n;
        addr += n;
    }
    return done;
}

/* "ADDR,LEN" then end (":" for writes); false when malformed. */
static bool addr_len(const char *p, const char **end, uint64_t *addr,
                     uint64_t *len)
{
    return gdb_parse_hex(p, &p, addr) && *p == ',' &&
           gdb_parse_hex(p + 1, end, len);
}

static void cmd_read_mem(GdbServer *s, const char *p)
{
    uint64_t addr, len;
    const char *end;

    if (!addr_len(p, &end, &addr, &len) || *end) {
        reply(s, "E22");
        return;
    }
    len = MIN(len, GDB_MEM_MAX);
    g_autofree uint8_t *buf = g_malloc(len + 1);
    size_t got = mem_rw(s, addr, buf, len, false);
    if (!got && len) {
        reply(s, "E14");
        return;
    }
    GString *hex = g_string_new(NULL);
    gdb_put_hex(hex, buf, got);
    reply_gstr(s, hex);
    g_string_free(hex, TRUE);
}

/* M (hex data) and X (binary data): text is the packet up to its first
 * NUL, pkt all plen bytes of it */
static void cmd_write_mem(GdbServer *s, const char *text, const uint8_t *pkt,
                          size_t plen, bool binary)
{
    uint64_t addr, len;
    const char *end;

    if (!addr_len(text + 1, &end, &addr, &len) || *end != ':' ||
        len > GDB_PACKET_MAX) {
        reply(s, "E22");
        return;
    }
    const uint8_t *data = pkt + (end + 1 - text);
    size_t avail = plen - (end + 1 - text);
    g_autofree uint8_t *buf = g_malloc(len + 1);
    if (binary ? avail != len
               : !gdb_get_hex((const char *)data, avail, buf, len)) {
        reply(s, "E22");
        return;
    }
    if (binary) {
        memcpy(buf, data, len);
    }
    reply(s, mem_rw(s, addr, buf, len, true) == len ? "OK" : "E14");
}

/* ---- registers ---- */

static bool snapshot(GdbServer *s, X86CPUSnapshot *snap)
{
    return x86_cpu_get_snapshot(machine()->cpus[s->g_cpu], snap, NULL);
}

static void cmd_read_regs(GdbServer *s)
{
    X86CPUSnapshot snap;
    GString *out = g_string_new(NULL);

    if (snapshot(s, &snap)) {
        x86_gdb_read_registers(&snap, out);
        reply_gstr(s, out);
    } else {
        reply(s, "E14");
    }
    g_string_free(out, TRUE);
}

static void cmd_read_reg(GdbServer *s, const char *p)
{
    X86CPUSnapshot snap;
    uint64_t n;
    const char *end;
    GString *out = g_string_new(NULL);

    if (!gdb_parse_hex(p, &end, &n) || *end || n > INT32_MAX) {
        reply(s, "E22");
    } else if (!snapshot(s, &snap) ||
               !x86_gdb_read_register(&snap, n, out)) {
        reply(s, "E14");
    } else {
        reply_gstr(s, out);
    }
    g_string_free(out, TRUE);
}

/* Writes the registers gdb changed into the vCPU (parked: gdb only
 * writes registers of a stopped VM; a running one is refused). */
static void set_regs(GdbServer *s, const X86CoreRegs *r)
{
    Machine *m = machine();
    g_autoptr(GError) err = NULL;

    if (runstate_is_running()) {
        reply(s, "E16");
    } else if (!m->accel->vcpu_set_regs ||
               !m->accel->vcpu_set_regs(m->cpus[s->g_cpu], r, &err)) {
        reply(s, "E14");
    } else {
        reply(s, "OK");
    }
}

/* P n=HEX */
static void cmd_write_reg(GdbServer *s, const char *p)
{
    X86CPUSnapshot snap;
    X86CoreRegs r;
    uint64_t n;
    const char *end;

    if (!gdb_parse_hex(p, &end, &n) || *end != '=' || n > INT32_MAX) {
        reply(s, "E22");
        return;
    }
    if (!snapshot(s, &snap)) {
        reply(s, "E14");
        return;
    }
    x86_gdb_core_regs(&snap, &r);
    p = end + 1;
    if (!x86_gdb_write_register(&snap, &r, n, &p, p + strlen(p)) || *p) {
        reply(s, "E22");
        return;
    }
    set_regs(s, &r);
}

/* G HEX: every register, in the g packet's layout */
static void cmd_write_regs(GdbServer *s, const char *p)
{
    X86CPUSnapshot snap;
    X86CoreRegs r;
    const char *end = p + strlen(p);

    if (!snapshot(s, &snap)) {
        reply(s, "E14");
        return;
    }
    x86_gdb_core_regs(&snap, &r);
    for (int n = 0; n < x86_gdb_register_count(); n++) {
        if (!x86_gdb_write_register(&snap, &r, n, &p, end)) {
            reply(s, "E22");
            return;
        }
    }
    if (*p) {
        reply(s, "E22");
        return;
    }
    set_regs(s, &r);
}

/* ---- breakpoints and watchpoints ---- */

typedef struct PointArgs {
    bool insert;
    GuestDebugType type;
    uint64_t addr, len;
} PointArgs;

static bool do_point(Machine *m, void *arg, GError **errp)
{
    PointArgs *a = arg;

    return a->insert
        ? guest_debug_insert(m, a->type, a->addr, a->len, errp)
        : guest_debug_remove(m, a->type, a->addr, a->len, errp);
}

/* Z/z TYPE,ADDR,KIND[;conditions]: conditions are gdb's own business */
static void cmd_point(GdbServer *s, const char *p)
{
    PointArgs a = { .insert = *p == 'Z' };
    uint64_t type;
    const char *end;
    g_autoptr(GError) err = NULL;

    if (!gdb_parse_hex(p + 1, &end, &type) || *end != ',' ||
        !addr_len(end + 1, &end, &a.addr, &a.len) ||
        (*end && *end != ';')) {
        reply(s, "E22");
        return;
    }
    if (type > DEBUG_WP_ACCESS) {
        reply(s, "");   /* a kind we do not know: gdb uses another */
        return;
    }
    a.type = type;
    reply(s, debug_change(do_point, &a, &err) ? "OK" : "E22");
}

/* ---- threads ---- */

static void cmd_set_thread(GdbServer *s, const char *p)
{
    int64_t tid;
    char *end;

    if (*p != 'g' && *p != 'c') {
        reply(s, "E22");
        return;
    }
    tid = g_ascii_strtoll(p + 1, &end, 16);
    if (*end || end == p + 1) {
        reply(s, "E22");
        return;
    }
    /* -1 all and 0 any: the first; otherwise that vCPU */
    if (tid > 0 && !thread_cpu(tid)) {
        reply(s, "E22");
        return;
    }
    if (*p == 'g') {
        s->g_cpu = tid > 0 ? tid - 1 : 0;
    } else {
        s->c_cpu = tid > 0 ? tid - 1 : 0;
    }
    reply(s, "OK");
}

static void cmd_thread_alive(GdbServer *s, const char *p)
{
    uint64_t tid;
    const char *end;

    reply(s, gdb_parse_hex(p, &end, &tid) && !*end &&
             tid <= INT32_MAX && thread_cpu(tid) ? "OK" : "E22");
}

static void cmd_thread_list(GdbServer *s)
{
    GString *out = g_string_new("m");

    for (int i = 0; i < machine()->ncpus; i++) {
        g_string_append_printf(out, "%s%x", i ? "," : "", i + 1);
    }
    reply_gstr(s, out);
    g_string_free(out, TRUE);
}

static void cmd_thread_info(GdbServer *s, const char *p)
{
    uint64_t tid;
    const char *end;
    CPUState *cpu;

    if (!gdb_parse_hex(p, &end, &tid) || *end || tid > INT32_MAX ||
        !(cpu = thread_cpu(tid))) {
        reply(s, "E22");
        return;
    }
    g_autofree char *text = g_strdup_printf("CPU#%d [%s]", cpu->index,
                                            runstate_is_running()
                                            ? "running" : "halted");
    GString *hex = g_string_new(NULL);
    gdb_put_hex(hex, text, strlen(text));
    reply_gstr(s, hex);
    g_string_free(hex, TRUE);
}

/* ---- queries ---- */

/* qXfer:features:read:ANNEX:OFFSET,LENGTH */
static void cmd_xfer_features(GdbServer *s, const char *p)
{
    const char *xml = x86_gdb_target_xml();
    size_t total = strlen(xml);
    uint64_t off, len;
    const char *end;

    if (!g_str_has_prefix(p, "target.xml:")) {
        reply(s, "E00");
        return;
    }
    if (!addr_len(p + 11, &end, &off, &len) || *end) {
        reply(s, "E22");
        return;
    }
    if (off > total) {
        reply(s, "E22");
        return;
    }
    len = MIN(len, MIN(total - off, (uint64_t)GDB_MEM_MAX));
    GString *out = g_string_new(off + len < total ? "m" : "l");
    g_string_append_len(out, xml + off, len);
    reply_gstr(s, out);
    g_string_free(out, TRUE);
}

/* qRcmd,HEX: a monitor command; its output as O packets, then OK */
static void cmd_monitor(GdbServer *s, const char *hex)
{
    size_t n = strlen(hex) / 2;
    g_autofree char *line = g_malloc0(n + 1);

    if (strlen(hex) % 2 || !gdb_get_hex(hex, strlen(hex), (uint8_t *)line,
                                        n) || memchr(line, 0, n)) {
        reply(s, "E22");
        return;
    }
    GString *out = g_string_new(NULL);
    hmp_execute(line, out);
    for (size_t at = 0; at < out->len; at += GDB_MEM_MAX / 2) {
        GString *o = g_string_new("O");
        gdb_put_hex(o, out->str + at, MIN(out->len - at, GDB_MEM_MAX / 2));
        reply_gstr(s, o);
        g_string_free(o, TRUE);
    }
    g_string_free(out, TRUE);
    reply(s, "OK");
}

static void cmd_query(GdbServer *s, const char *p)
{
    if (g_str_has_prefix(p, "qSupported")) {
        g_autofree char *r = g_strdup_printf(
            "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;"
            "vContSupported+;swbreak+;hwbreak+", GDB_PACKET_MAX);
        reply(s, r);
    } else if (!strcmp(p, "QStartNoAckMode")) {
        reply(s, "OK");
        s->no_ack = true;
    } else if (g_str_has_prefix(p, "qXfer:features:read:")) {
        cmd_xfer_features(s, p + 20);
    } else if (!strcmp(p, "qAttached")) {
        reply(s, "1");
    } else if (!strcmp(p, "qC")) {
        g_autofree char *r = g_strdup_printf("QC%x", s->g_cpu + 1);
        reply(s, r);
    } else if (!strcmp(p, "qfThreadInfo")) {
        cmd_thread_list(s);
    } else if (!strcmp(p, "qsThreadInfo")) {
        reply(s, "l");
    } else if (g_str_has_prefix(p, "qThreadExtraInfo,")) {
        cmd_thread_info(s, p + 17);
    } else if (g_str_has_prefix(p, "qRcmd,")) {
        cmd_monitor(s, p + 6);
    } else if (!strcmp(p, "Qqemu.PhyMemMode:1") ||
               !strcmp(p, "Qqemu.PhyMemMode:0")) {
        s->phys = p[17] == '1';
        reply(s, "OK");
    } else if (!strcmp(p, "qqemu.PhyMemMode")) {
        reply(s, s->phys ? "1" : "0");
    } else {
        reply(s, "");   /* not supported: gdb knows what that means */
    }
}

/*
 * vCont;ACTION[:TID]...: c and C continue, s and S step one thread (the
 * others, whatever their action, run meanwhile: the VM runs as a whole,
 * as with QEMU). The signal of C and S is not the guest's: ignored.
 */
static void cmd_vcont(GdbServer *s, const char *p)
{
    int step = -1;

    if (!strcmp(p, "?")) {
        reply(s, "vCont;c;C;s;S");
        return;
    }
    if (*p != ';') {
        reply(s, "E22");
        return;
    }
    g_auto(GStrv) actions = g_strsplit(p + 1, ";", 0);
    for (int i = 0; actions[i]; i++) {
        char *a = actions[i], *colon = strchr(a, ':');
        int64_t tid = -1;

        if (!strchr("cCsS", a[0]) || !a[0]) {
            reply(s, "E22");
            return;
        }
        if (colon) {
            char *end;
            tid = g_ascii_strtoll(colon + 1, &end, 16);
            if (*end || end == colon + 1 || (tid > 0 && !thread_cpu(tid))) {
                reply(s, "E22");
                return;
            }
        }
        if ((a[0] == 's' || a[0] == 'S') && step < 0) {
            step = tid > 0 ? tid - 1 : s->c_cpu;
        }
    }
    resume(s, step);
}

/* ---- dispatch ---- */

static void handle_packet(GdbServer *s, const uint8_t *pkt, size_t len)
{
    /* text commands are NUL-terminated copies; X keeps its binary */
    g_autofree char *p = g_strndup((const char *)pkt, len);

    if (!len) {
        reply(s, "");
        return;
    }
    switch (p[0]) {
    case '?':
        if (runstate_get() == RUN_STATE_DEBUG) {
            reply_debug_stop(s, guest_debug_last_hit());
        } else {
            reply_stop(s, 5);
        }
        break;
    case 'g':
        cmd_read_regs(s);
        break;
    case 'G':
        cmd_write_regs(s, p + 1);
        break;
    case 'p':
        cmd_read_reg(s, p + 1);
        break;
    case 'P':
        cmd_write_reg(s, p + 1);
        break;
    case 'Z':
    case 'z':
        cmd_point(s, p);
        break;
    case 'm':
        cmd_read_mem(s, p + 1);
        break;
    case 'M':
        cmd_write_mem(s, p, pkt, len, false);
        break;
    case 'X':
        cmd_write_mem(s, p, pkt, len, true);
        break;
    case 'H':
        cmd_set_thread(s, p + 1);
        break;
    case 'T':
        cmd_thread_alive(s, p + 1);
        break;
    case 'c':
    case 'C':
        resume(s, -1);
        break;
    case 's':
    case 'S':
        /* an address to resume at is not supported: gdb never sends it */
        resume(s, s->c_cpu);
        break;
    case 'v':
        if (g_str_has_prefix(p, "vCont")) {
            cmd_vcont(s, p + 5);
        } else {
            reply(s, "");
        }
        break;
    case 'q':
    case 'Q':
        cmd_query(s, p);
        break;
    case 'D':
        /* detach: the VM runs on without gdb and its breakpoints */
        reply(s, "OK");
        s->running = false;
        debug_change(do_clear, NULL, NULL);
        if (!runstate_is_running()) {
            vm_start(machine(), NULL);
        }
        break;
    case 'k':
        vm_request_shutdown(SHUTDOWN_HOST_QUIT, 0);
        break;
    default:
        reply(s, "");
        break;
    }
}

/* ---- the character device ---- */

static int gdb_can_receive(void *opaque)
{
    return 4096;
}

static void gdb_receive(void *opaque, const uint8_t *buf, int len)
{
    GdbServer *s = opaque;

    for (int i = 0; i < len; i++) {
        size_t n;
        const uint8_t *d;

        switch (gdb_reader_feed(&s->rd, buf[i])) {
        case GDB_EV_PACKET:
            if (!s->no_ack) {
                chardev_write(s->chr, (const uint8_t *)"+", 1);
            }
            d = gdb_reader_data(&s->rd, &n);
            handle_packet(s, d, n);
            break;
        case GDB_EV_BAD:
            if (!s->no_ack) {
                chardev_write(s->chr, (const uint8_t *)"-", 1);
            }
            break;
        case GDB_EV_NAK:
            if (!s->no_ack && s->last->len) {
                chardev_write(s->chr, (const uint8_t *)s->last->str,
                              s->last->len);
            }
            break;
        case GDB_EV_INTERRUPT:
            if (runstate_is_running()) {
                vm_stop(machine(), RUN_STATE_PAUSED);
            } else if (s->running) {
                vm_changed(s, false);
            }
            break;
        default:
            break;
        }
    }
}

static void gdb_event(void *opaque, ChardevEvent ev)
{
    GdbServer *s = opaque;

    switch (ev) {
    case CHR_EVENT_OPENED:
        /* a debugger looks at a stopped VM */
        s->connected = true;
        s->no_ack = false;
        s->running = false;
        s->phys = false;
        s->g_cpu = s->c_cpu = 0;
        gdb_reader_free(&s->rd);
        gdb_reader_init(&s->rd);
        g_string_truncate(s->last, 0);
        vm_stop(machine(), RUN_STATE_PAUSED);
        break;
    case CHR_EVENT_CLOSED:
        /* gdb went away: the VM carries on as it was, without the
         * breakpoints nobody would hear of */
        s->connected = false;
        s->running = false;
        debug_change(do_clear, NULL, NULL);
        break;
    default:
        break;
    }
}

static const ChardevHandlers gdb_handlers = {
    .can_receive = gdb_can_receive,
    .receive = gdb_receive,
    .event = gdb_event,
};

static void server_free(GdbServer *s)
{
    chardev_set_handlers(s->chr, NULL, s);
    vm_del_state_change_handler(s->vm_change);
    gdb_reader_free(&s->rd);
    g_string_free(s->last, TRUE);
    g_free(s);
}

bool gdbserver_start(const char *device, GError **errp)
{
    g_autofree char *spec = NULL;
    Chardev *chr;

    if (!machine()) {
        g_set_error(errp, VIREO_ERROR, 0, "gdbstub: no machine");
        return false;
    }
    if (server) {
        server_free(server);
        server = NULL;
    }
    if (!strcmp(device, "none")) {
        return true;
    }
    /* QEMU: a bare tcp: address is a server that does not wait */
    spec = g_str_has_prefix(device, "tcp:") && !strstr(device, "server")
           ? g_strdup_printf("%s,server=on,wait=off", device)
           : g_strdup(device);
    chr = chardev_new_from_spec("gdb", spec, errp);
    if (!chr) {
        g_prefix_error(errp, "gdbstub: ");
        return false;
    }
    GdbServer *s = g_new0(GdbServer, 1);
    s->chr = chr;
    s->last = g_string_new(NULL);
    gdb_reader_init(&s->rd);
    s->vm_change = vm_add_state_change_handler(vm_changed, s);
    server = s;
    chardev_set_handlers(chr, &gdb_handlers, s);
    return true;
}

void gdbserver_cleanup(int status)
{
    if (server && server->connected) {
        g_autofree char *w = g_strdup_printf("W%02x", status & 0xff);
        reply(server, w);
    }
    if (server) {
        server_free(server);
        server = NULL;
    }
}
