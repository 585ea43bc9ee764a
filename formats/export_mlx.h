/*
 * export_mlx.h: the MLX exporter's knobs (internal; the exporter itself is
 * tq_export_mlx in export.h).
 */
#ifndef TQ_FORMATS_EXPORT_MLX_H
#define TQ_FORMATS_EXPORT_MLX_H

#include <stdint.h>

/*
 * Bytes of tensor data per safetensors shard: mlx-lm's 5 GB by default.
 * Tests lower it to exercise the sharded layout on a small model.
 */
extern uint64_t tq_export_mlx__shard_bytes;

#endif /* TQ_FORMATS_EXPORT_MLX_H */
