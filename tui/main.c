/*
 * main.c: turboquant's entry point: global options and the command table.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "wb.h"

static const cli_command commands[] = {
	{ "info", "show a model's architecture, layers and sizes",
	  "turboquant info [MODEL] [--json]\n"
	  "\n"
	  "  Prints the model's path, architecture and hyperparameters, every\n"
	  "  tensor with its shape, dtype and parameter count, the totals and\n"
	  "  the size on disk.  MODEL is a Hugging Face model directory\n"
	  "  (config.json + safetensors); without it, the bundled demo model.\n"
	  "\n"
	  "  --json        one JSON object on stdout\n",
	  cmd_info },
	{ "tokenize", "turn text into token ids with the model's tokenizer",
	  "turboquant tokenize [MODEL] (--text FILE | STRING) [--json]\n"
	  "                    [--no-special] [--tokens]\n"
	  "\n"
	  "  Encodes the text as Hugging Face tokenizers does with the model's\n"
	  "  tokenizer.json (MODEL may also be a tokenizer.json file).  With one\n"
	  "  argument and no --text, the argument is the string to encode.\n"
	  "\n"
	  "  --text FILE   encode the contents of FILE\n"
	  "  --no-special  do not add special tokens (BOS) around the text\n"
	  "  --tokens      print each token's string beside its id\n"
	  "  --json        print {\"ids\": [...], \"tokens\": [...]} on stdout\n",
	  cmd_tokenize },
	{ "calibrate", "activation statistics and outlier channels on text",
	  "turboquant calibrate [MODEL] --calib FILE [--samples N] [--seqlen L]\n"
	  "                     [--seed S] [--out STATS] [--imatrix FILE.gguf]\n"
	  "                     [--json]\n"
	  "\n"
	  "  Samples N windows of L tokens from FILE (plain text, or JSONL with\n"
	  "  a \"text\" field) with seed S, runs them through the model and\n"
	  "  gathers for the input of every linear layer: per-channel absmax,\n"
	  "  mean |x| and mean x^2 (the importance matrix) and a log-scale\n"
	  "  histogram.  Prints each input with its largest channels and how\n"
	  "  far they stand above the median channel (outliers).\n"
	  "\n"
	  "  --calib FILE  calibration text; given again (up to 8 texts),\n"
	  "                the windows are split evenly between them\n"
	  "  --samples N   number of windows (default 128)\n"
	  "  --seqlen L    tokens per window (default 2048, at most the\n"
	  "                model's context)\n"
	  "  --seed S      sampling seed (default 0)\n"
	  "  --out STATS   save samples and statistics (safetensors)\n"
	  "  --imatrix F   write the importance matrix as a GGUF file for\n"
	  "                llama.cpp's llama-quantize --imatrix\n"
	  "  --json        one JSON object on stdout\n",
	  cmd_calibrate },
	{ "plan", "which method and scheme each layer gets, and the sizes",
	  "turboquant plan [MODEL] (--plan FILE | --preset NAME |\n"
	  "                --method M --scheme S [SETTINGS]) [--save FILE]\n"
	  "                [--json]\n"
	  "turboquant plan [MODEL] (--target-bpw X | --frontier) [--menu LIST]\n"
	  "                [--menu-exclude LIST]\n"
	  "                (--calib FILE | --sensitivity F) [--out PLAN]\n"
	  "\n"
	  "  Resolves a quantization plan on the model and prints every\n"
	  "  linear layer with its shape, method, scheme, bits per weight and\n"
	  "  planned size, then the fp16 and planned totals and the average\n"
	  "  bits per weight (float layers count 16).  The plan is checked\n"
	  "  first: every rule must match a layer and every scheme must fit\n"
	  "  its layer's shape.  Each row ends with why the layer gets its\n"
	  "  method.\n"
	  "\n"
	  "  --plan FILE      a JSON plan (see README, \"Plans\")\n"
	  "  --preset NAME    w4a16-awq, w3-awq, w4-gptq, w3-gptq, w4-rtn,\n"
	  "                   w3-rtn, w8-rtn, w8a8-smoothquant, fp8,\n"
	  "                   fp8-static, nf4, mxfp4, nvfp4, q8_0, q6_k,\n"
	  "                   q5_k_m, q4_k_m, q4_k_s, q3_k_m, q2_k, iq4_xs,\n"
	  "                   iq4_nl, iq3_xxs, iq3_xs, iq3_s, iq3_m, iq2_xxs,\n"
	  "                   iq2_xs, iq2_s, iq2_m, iq1_s, iq1_m (iq3_xxs,\n"
	  "                   iq3_xs and the iq2 and iq1 ones need --imatrix)\n"
	  "  --method M       float, rtn, gptq, awq or smoothquant for every\n"
	  "                   block linear (lm_head and embeddings stay float)\n"
	  "  --scheme S       int4-g128, int8-sym, fp8, nf4, q4_k, ... (alone:\n"
	  "                   rtn)\n"
	  "  SETTINGS, with --method/--scheme:\n"
	  "    --act-order --static-groups --damp X --block-size N\n"
	  "    --hess-shrink X                                       (gptq)\n"
	  "    --awq-scales                                    (gptq, rtn)\n"
	  "    --clip-search --no-clip-search --imatrix\n"
	  "    --alpha X --act-bits 8|16                           (smoothquant)\n"
	  "  --imatrix        with --preset too: the importance matrix on\n"
	  "                   every block linear\n"
	  "  --calib FILE     with a K-quant preset (q8_0 to q2_k) or w4-gptq,\n"
	  "                   w3-gptq: the plan quantize --calib makes (the\n"
	  "                   importance matrix and GPTQ, Hessian shrunk 0.3,\n"
	  "                   clip search, on the block linears; w4-gptq and\n"
	  "                   w3-gptq after AWQ's scales)\n"
	  "  --save FILE      write the plan as JSON (after it checks)\n"
	  "  MIXED PRECISION (a plan chosen per layer for a size budget):\n"
	  "    --target-bpw X   the best plan for X bits per weight over the\n"
	  "                     block linears (predicted loss: per-layer error\n"
	  "                     times a measured KLD coefficient)\n"
	  "    --frontier       print the frontier of size against predicted\n"
	  "                     loss\n"
	  "    --menu LIST      settings to choose from, comma-separated\n"
	  "                     METHOD:SCHEME[+imatrix] (default: q2_k..q6_k\n"
	  "                     +imatrix, q8_0, gptq int3/int4-g128, int8)\n"
	  "    --menu-exclude LIST  leave these out of the choice, without\n"
	  "                     measuring again: grids (q4_1: wherever an\n"
	  "                     entry gives a layer q4_1, its fallback too)\n"
	  "                     or menu entries (rtn:q4_1)\n"
	  "    --calib FILE     measure sensitivity on this text (--samples N,\n"
	  "                     default 128; --seqlen L; --seed S); repeat\n"
	  "                     it for several texts\n"
	  "    --sensitivity F  reuse F when it exists, else save there\n"
	  "    --probe-tokens N tokens of the per-layer KLD probe (2048; 0 =\n"
	  "                     none: plain sum of relative errors)\n"
	  "    --per-expert     a mixture of experts: each expert's gate, up\n"
	  "                     and down its own choice (default: one choice\n"
	  "                     for a block's gates, one for ups, one for downs)\n"
	  "    --base-plan P    lm_head and embeddings as preset or plan file\n"
	  "                     P has them (default: float)\n"
	  "    --out FILE       save the plan (as --save)\n"
	  "  --list-presets   print the preset names and exit\n"
	  "  --json           one JSON object on stdout\n",
	  cmd_plan },
	{ "quantize", "quantize a model layer by layer under a plan",
	  "turboquant quantize [MODEL] (--plan FILE | --preset NAME |\n"
	  "                    --method M [--bits B --group G --sym | --scheme S])\n"
	  "                    [--calib FILE [--samples N --seqlen L --seed S] |\n"
	  "                     --stats STATS] --out DIR [--resume | --force]\n"
	  "                    [--sequential] [--json]\n"
	  "                    [--export FORMAT:PATH [--export-type T]]\n"
	  "\n"
	  "  Quantizes block by block: each block's calibration inputs are the\n"
	  "  outputs of the already-quantized blocks, and q/k/v, o, gate/up and\n"
	  "  down each see inputs made by the layers quantized before them.\n"
	  "  Prints each layer's relative output error ||WX-W'X||^2/||WX||^2,\n"
	  "  weight SQNR and bits per weight, and saves the state in DIR after\n"
	  "  every block.  Ctrl-C cancels; --resume continues a stopped run.\n"
	  "  One run at a time per DIR (it holds DIR/quantize.lock); a state\n"
	  "  is checked against its model and grids whenever it is read.\n"
	  "  With --plan or --preset, --method, --imatrix, --act-order,\n"
	  "  --clip-search, --damp, --hess-shrink, --awq-scales, --alpha and\n"
	  "  --act-bits apply to every block linear on top of it (one more\n"
	  "  rule), e.g. --preset q4_k_m --method gptq --imatrix; the grids\n"
	  "  stay the plan's.  A plan of RTN-class layers (float, rtn with\n"
	  "  or without --imatrix and --clip-search, no AWQ scales or 8-bit\n"
	  "  activations; dense model) takes one pass of the float model\n"
	  "  instead, as llama-imatrix does, and prints no rel. error.\n"
	  "  With calibration text (--calib or --stats) and no --method, the\n"
	  "  K-quant presets take the importance matrix on their block\n"
	  "  linears and the method measured best: GPTQ with the Hessian's\n"
	  "  off-diagonal shrunk and the clip search (--hess-shrink 0.3\n"
	  "  --clip-search; README, \"The default method\"); the integer\n"
	  "  GPTQ presets (w4-gptq, w3-gptq) take the same after AWQ's input\n"
	  "  scales (--awq-scales).  The log says so.  Without calibration\n"
	  "  text the K-quant presets are plain RTN.\n"
	  "\n"
	  "  --plan FILE     a JSON plan (see turboquant help plan)\n"
	  "  --preset NAME   a recipe: w4-gptq, w4a16-awq, w8a8-smoothquant,\n"
	  "                  fp8-static, q4_k_m, ... (turboquant plan\n"
	  "                  --list-presets)\n"
	  "  --method M      rtn, gptq, awq (activation-aware scales, folded\n"
	  "                  into the norms and v/up rows; clip search on),\n"
	  "                  smoothquant (outliers moved into the weights,\n"
	  "                  int8 activations) or float\n"
	  "  --bits B        integer bits, 2..8 (default 4)\n"
	  "  --group G       columns per scale: 32/64/128/256, 0 = per channel\n"
	  "                  (default 128)\n"
	  "  --sym           symmetric grid (zero point fixed)\n"
	  "  --scheme S      any grid instead: int4-g128, fp8, nf4, q4_k, ...\n"
	  "  --act-order     GPTQ: columns by decreasing activation energy\n"
	  "  --clip-search   search each group's clipping range (integer\n"
	  "                  grids: then its step and zero refitted); on the\n"
	  "                  K-quants (q2_k..q6_k) each block's scales beyond\n"
	  "                  ggml's rule (no longer llama-quantize's bytes)\n"
	  "  --awq-scales    gptq, rtn: AWQ's input scales (searched and\n"
	  "                  folded into the norms and v/up rows) first\n"
	  "  --imatrix       weigh rounding errors by the inputs' mean x^2\n"
	  "                  (with --preset: its block linears' rounding)\n"
	  "  --damp X        GPTQ dampening, a fraction of the mean Hessian\n"
	  "                  diagonal (default 0.01)\n"
	  "  --hess-shrink X GPTQ: the Hessian's off-diagonal entries times\n"
	  "                  1 - X, in [0, 1]: less compensation fitted to the\n"
	  "                  calibration text's correlations (default 0; the\n"
	  "                  K-quant presets' calibrated default sets it)\n"
	  "  --alpha X       SmoothQuant migration strength (default 0.5)\n"
	  "  --act-bits A    8: quantize activations at evaluation (int8 per\n"
	  "                  token; fp8 with a static scale for fp8 weights)\n"
	  "  --calib FILE    calibration text (needed by gptq, awq,\n"
	  "                  smoothquant and --imatrix); given again (up to\n"
	  "                  8 texts, e.g. prose and code), the windows are\n"
	  "                  split evenly between them\n"
	  "  --samples N     calibration windows (default 128)\n"
	  "  --seqlen L      tokens per window (default 2048, at most the\n"
	  "                  model's context)\n"
	  "  --seed S        sampling seed (default 0)\n"
	  "  --stats STATS   reuse the samples of turboquant calibrate --out\n"
	  "  --out DIR       the quantized state directory\n"
	  "  --resume        continue from the last finished block in DIR\n"
	  "  --sequential    block by block even for an RTN-class plan\n"
	  "  --force         replace DIR's state if it is complete (and PATH\n"
	  "                  with --export)\n"
	  "  --export F:PATH then export the state (turboquant help export),\n"
	  "                  e.g. gguf:model.gguf; --export-type T as export's\n"
	  "                  --type\n"
	  "  --json          the per-layer report as one JSON object\n",
	  cmd_quantize },
	{ "eval", "perplexity, KL divergence, tasks; compare and gate variants",
	  "turboquant eval [MODEL | STATE] --text FILE [--protocol P] [--ctx N]\n"
	  "                [--max-tokens N] [--kld] [--base MODEL]\n"
	  "                [--save-logits F | --base-logits F] [--long-context]\n"
	  "                [--tasks F.jsonl [--tasks-limit N]] [--layers]\n"
	  "                [--max-ppl-increase PCT] [--max-kld X]\n"
	  "                [--json | --markdown]\n"
	  "       turboquant eval BASE --compare STATE_OR_MODEL... --text FILE ...\n"
	  "\n"
	  "  MODEL is a Hugging Face model directory (or any file tq_model_open\n"
	  "  reads); STATE a quantized state directory (turboquant quantize\n"
	  "  --out), evaluated as its model with the state's weights.\n"
	  "\n"
	  "  Perplexity, named by its protocol: gptq (default; the text without\n"
	  "  special tokens, non-overlapping windows of N tokens, every\n"
	  "  position after the first scored) or llamacpp (as llama-perplexity:\n"
	  "  the text with BOS, windows of N = 512 whose first token becomes\n"
	  "  BOS (no BOS when the tokenizer adds none), only the second half\n"
	  "  scored); with its standard error.\n"
	  "  Against a base (a state's own model, --base, or --base-logits),\n"
	  "  on the same windows in one run: the statistics llama-perplexity\n"
	  "  --kl-divergence prints (KLD mean, percentiles, same top token,\n"
	  "  change in probability of the correct token).\n"
	  "\n"
	  "  --text FILE          the evaluation text (UTF-8)\n"
	  "  --protocol P         gptq or llamacpp\n"
	  "  --ctx N              window length (gptq: the model's context, at\n"
	  "                       most 2048; llamacpp: 512)\n"
	  "  --max-tokens N       only the first N tokens of the text\n"
	  "  --kld                compare a state with its base model\n"
	  "  --base MODEL         the base to compare with\n"
	  "  --save-logits F      save the base's log-probabilities (2 bytes\n"
	  "                       per vocabulary entry) for later runs\n"
	  "  --base-logits F      compare with a saved base (no base run)\n"
	  "  --long-context       perplexity and KLD at every power-of-two\n"
	  "                       window from 64 to the model's context\n"
	  "  --tasks F.jsonl      multiple-choice questions {\"context\",\n"
	  "                       \"choices\", \"label\"}: acc and acc_norm\n"
	  "  --layers             the state's per-layer errors, worst first\n"
	  "  --sensitivity F      with --compare: each state's predicted KLD by\n"
	  "                       the table of turboquant plan --sensitivity\n"
	  "  --compare V...       one table (size, bits per weight, ppl, delta,\n"
	  "                       mean KLD, same top token) for each variant\n"
	  "  --max-ppl-increase PCT, --max-kld X\n"
	  "                       gates: exit status 2 with a one-line reason\n"
	  "                       when a variant exceeds them\n"
	  "  --json, --markdown   one JSON object; Markdown tables\n",
	  cmd_eval },
	{ "export", "write a model or quantized state in a deployment format",
	  "turboquant export [MODEL | STATE] --format F [--type T] --out PATH\n"
	  "                  [--imatrix FILE.gguf] [--force] [--json]\n"
	  "\n"
	  "  Writes a quantized state (turboquant quantize --out) or a float\n"
	  "  model for a runtime, under a temporary name renamed into place\n"
	  "  when complete (Ctrl-C or an error leaves nothing behind), then\n"
	  "  reports the files, their sizes and the bits per weight.\n"
	  "\n"
	  "  --format F   gguf (llama.cpp, Ollama): one .gguf file\n"
	  "               mlx (mlx-lm, Apple MLX): a model directory\n"
	  "               awq, gptq, compressed-tensors, trtllm: a checkpoint\n"
	  "               directory holding the state's own codes (the grid\n"
	  "               must fit, else the error lists what does): awq\n"
	  "               int4 groups; gptq int2/3/4/8; compressed-tensors\n"
	  "               int4/int8, fp8 (also in 128 x 128 tiles), nvfp4;\n"
	  "               trtllm int4-sym groups, int8-sym, fp8-channel,\n"
	  "               nvfp4-pow2, nvfp4-unit\n"
	  "               onnx (onnxruntime): a directory, model.onnx (with\n"
	  "               com.microsoft MatMulNBits) and model.onnx.data\n"
	  "  --type T     gguf: f32, f16, bf16; the llama.cpp mixes q8_0,\n"
	  "               q6_k, q5_k_m, q4_k_m, q4_k_s, q3_k_m, iq4_xs,\n"
	  "               iq4_nl, iq3_xxs, iq3_xs (both need --imatrix\n"
	  "               where 256 divides the width), iq3_s, iq3_m,\n"
	  "               iq2_m, iq2_s, iq2_xs, iq2_xxs, iq1_m, iq1_s (these\n"
	  "               six with --imatrix); or one block\n"
	  "               type for every layer: q4_0, q4_1, q5_0, q5_1, q2_k,\n"
	  "               q3_k, q4_k, q5_k.  Left out: the state's own blocks\n"
	  "               (f16 for a float model).  Layers the state holds on\n"
	  "               another grid are re-quantized with RTN, and the\n"
	  "               report's warning says what was lost\n"
	  "               mlx: an integer grid MLX holds (int4-g64, int3-g32,\n"
	  "               int8-g128-sym, ...) for the layers whose grid MLX\n"
	  "               cannot hold (refused without it), or for every block\n"
	  "               linear of a float model; f16 (alone or after a\n"
	  "               comma) for fp16 scales and biases, rounding the\n"
	  "               biases of asymmetric grids (F32 keeps them exact)\n"
	  "               gptq: gptq_v2 for real zeros; trtllm: checkpoint\n"
	  "               (config.json + rank0.safetensors)\n"
	  "  --imatrix F  gguf with --type: weigh the RTN by the importance\n"
	  "               matrix F (llama-imatrix's or calibrate --imatrix's)\n"
	  "               as llama-quantize --imatrix F does\n"
	  "  --out PATH   the output file or directory\n"
	  "  --force      replace PATH if it exists\n"
	  "  --json       the report as one JSON object\n",
	  cmd_export },
	/* ---- the workbench (tui/wb_*.c) ---- */
	{ "tui", "the interactive workbench (ncurses)",
	  "turboquant tui [MODEL]\n"
	  "\n"
	  "  Opens the workbench on MODEL (the bundled demo model without it;\n"
	  "  `turboquant` alone on a terminal does the same): browse layers,\n"
	  "  edit a per-layer plan, calibrate, quantize and validate with live\n"
	  "  progress.  ? on its screen lists every key.\n",
	  cmd_tui },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	    "turboquant %s: post-training quantization workbench for "
	    "Llama-class models\n"
	    "\n"
	    "usage: turboquant [--threads N] [--isa NAME] COMMAND [ARGS]\n"
	    "\n"
	    "commands:\n", tq_version());
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
	    "  help CMD   show the options of a command\n"
	    "\n"
	    "options:\n"
	    "  --threads N  threads for BLAS and the engine (default: all "
	    "cores)\n"
	    "  --isa NAME   vector instructions of the engine's kernels: "
	    "avx512, avx2,\n"
	    "               portable or auto (default: $TQ_ISA, else auto, "
	    "the fastest\n"
	    "               this CPU has); each gives the same results\n"
	    "  --help       this text\n"
	    "  --version    the version\n"
	    "\n"
	    "MODEL is a Hugging Face model directory (config.json, safetensors,\n"
	    "tokenizer.json); when it is left out, the bundled demo model is\n"
	    "used.  Errors are one line on stderr and exit status 1.\n");
}

void
cli_usage(FILE *f, const char *command)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, command) == 0) {
			fprintf(f, "usage: %s", commands[i].usage);
			return;
		}
	usage(f);
}

int
main(int argc, char **argv)
{
	long long threads = 0;
	const char *isa = getenv("TQ_ISA"), *isa_from = "TQ_ISA";
	tq_error err;
	int i = 1;
	size_t c;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("turboquant %s\n", tq_version());
			return 0;
		} else if (strcmp(argv[i], "--threads") == 0) {
			if (!cli_parse_int("--threads", i + 1 < argc ?
			    argv[i + 1] : NULL, 1, 1024, &threads))
				return 1;
			i += 2;
		} else if (strcmp(argv[i], "--isa") == 0) {
			if (i + 1 >= argc) {
				cli_error("--isa needs a value (avx512, avx2, "
				    "portable or auto)");
				return 1;
			}
			isa = argv[i + 1];
			isa_from = "--isa";
			i += 2;
		} else {
			cli_error("unknown option %s (see turboquant --help)",
			    argv[i]);
			return 1;
		}
	}
	tq_set_threads((int)threads);
	if (tq_set_isa(isa, &err) != TQ_OK) {
		cli_error("%s: %s", isa_from, err.msg);
		return 1;
	}
	if (i >= argc) {
		if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
			return wb_main(cli_model_path(NULL));	/* workbench */
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 < argc)
			cli_usage(stdout, argv[i + 1]);
		else
			usage(stdout);
		return 0;
	}
	for (c = 0; c < N_COMMANDS; c++)
		if (strcmp(argv[i], commands[c].name) == 0)
			return commands[c].run(argc - i, argv + i);
	return cli_error("unknown command \"%s\" (see turboquant --help)",
	    argv[i]);
}
