/**
 * A subset of Go's text/template, as Docker's `--format` uses it: `{{.Field}}`, nested
 * `{{.State.Status}}`, variables, pipelines, `if`/`else if`/`else`, `range` (with `$i, $e :=`,
 * `break`, `continue`), `with`, `{{- -}}` trimming, comments, and the functions of Go
 * (`and or not len index slice print printf println eq ne lt le gt ge`) and of Docker
 * (`json split join title lower upper pad truncate`).
 *
 * Values are JSON-like: objects are Go maps (a missing key prints `<no value>`), arrays are
 * slices. An object marked with GO_STRUCT stands for a Go struct such as Docker's
 * ContainerContext: its function-valued properties are methods (called with the action's
 * arguments), and a field it lacks is an error, as in Go.
 *
 * Not supported: `define`, `template`, `block`, and method calls on values other than
 * GO_STRUCT objects. Unlike Go, a field of a nil value reads as `<no value>` rather than
 * failing (inspect output is untyped JSON here, so the two cannot be told apart).
 */

export { FUNCS, HEADER_FUNCS } from './functions.js';
export { parseTemplate, Template } from './executor.js';
export { GO_STRUCT, TemplateError, type GoStruct, type TemplateFunc } from './types.js';
