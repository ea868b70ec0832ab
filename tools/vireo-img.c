/*
 * vireo-img: create, inspect, check, convert and change disk images, with
 * qemu-img's commands, options, messages and exit codes.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "img.h"

typedef struct ImgCommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;
} ImgCommand;

static const ImgCommand commands[] = {
    { "amend", img_amend, "amend [-p] [-q] [-f fmt] -o options filename" },
    { "check", img_check, "check [-q] [-f fmt] [--output=ofmt] [-r [leaks | "
      "all]] [-U] filename" },
    { "commit", img_commit, "commit [-q] [-f fmt] [-b base] [-d] [-p] "
      "filename" },
    { "compare", img_compare, "compare [-f fmt] [-F fmt] [-p] [-q] [-s] [-U] "
      "filename1 filename2" },
    { "convert", img_convert, "convert [-c] [-p] [-q] [-n] [-U] [-f fmt] "
      "[-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] "
      "[-S sparse_size] [-m num] [-W] filename [filename2 [...]] "
      "output_filename" },
    { "create", img_create, "create [-q] [-f fmt] [-b backing_file [-F "
      "backing_fmt]] [-u] [-o options] filename [size]" },
    { "info", img_info, "info [-f fmt] [--output=ofmt] [--backing-chain] "
      "[-U] filename" },
    { "map", img_map, "map [-f fmt] [--output=ofmt] [--start-offset=offset] "
      "[--max-length=len] [-U] filename" },
    { "measure", img_measure, "measure [--output=ofmt] [-O output_fmt] "
      "[-o options] [--size N | [-f fmt] filename]" },
    { "snapshot", img_snapshot, "snapshot [-q] [-l | -a snapshot | -c "
      "snapshot | -d snapshot] [-U] filename" },
    { "rebase", img_rebase, "rebase [-q] [-f fmt] [-p] [-u] [-U] -b "
      "backing_file [-F backing_fmt] filename" },
    { "resize", img_resize, "resize [--shrink] [-q] [-f fmt] "
      "[--preallocation=prealloc] filename [+ | -]size" },
};

static void print_help(void)
{
    printf(IMG_PROG " version " VIREO_VERSION "\n"
           "usage: " IMG_PROG " [standard options] command [command options]"
           "\nDisk image utility, compatible with qemu-img for the commands "
           "below.\n\n"
           "    '-h', '--help'       display this help and exit\n"
           "    '-V', '--version'    output version information and exit\n\n"
           "Command syntax:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        printf("  %s\n", commands[i].synopsis);
    }
    printf("\nSupported formats: qcow2 raw\n"
           "Sizes take k, M, G, T, P or E suffixes (powers of 1024); bytes "
           "without one.\n"
           "'--output' takes 'human' or 'json'.\n");
}

int main(int argc, char **argv)
{
    g_set_prgname(IMG_PROG);
    if (argc < 2) {
        return img_usage_error("Not enough arguments");
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        print_help();
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf(IMG_PROG " version " VIREO_VERSION "\n"
               "An image tool of the Vireo PC emulator, compatible with "
               "qemu-img's commands.\n");
        return 0;
    }
    if (cmd[0] == '-') {
        return img_usage_error("unrecognized option '%s'", cmd);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (!strcmp(cmd, commands[i].name)) {
            /* the command parses argv[1..] with argv[1] as its name */
            int ret = commands[i].run(argc - 1, argv + 1);
            fflush(stdout);
            return ret;
        }
    }
    return img_usage_error("Command not found: %s", cmd);
}
