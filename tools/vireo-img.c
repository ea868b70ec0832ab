/* vireo-img: create, inspect, check and convert disk images. */
#include <stdio.h>

int main(int argc, char **argv)
{
    fprintf(stderr, "vireo-img: not built yet\n");
    return 1;
}
