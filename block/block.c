/*
 * The generic block layer: drivers by name, probing, opening a node graph
 * with its backing chain, and synchronous helpers on nodes.
 */
#include "block/block_int.h"
