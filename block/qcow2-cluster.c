/* qcow2: see qcow2.h for what this file holds. */
#include "block/qcow2.h"
