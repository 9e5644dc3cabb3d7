import { z } from 'zod';
import type { ContainerExec } from '../../containers/containers.js';
import { DEFAULT_DETACH_KEYS, parseDetachKeys, pipeStreams } from '../attach-pipe.js';
import { queryInt, readJson, res, sendJson } from '../http.js';
import type { Router } from '../router.js';
import { messageOf } from '../errors.js';
import { frame, streamContentType, StreamType } from '../streams.js';

const nullish = <T extends z.ZodType>(t: T) => t.nullish().transform((v) => v ?? undefined);

const ExecCreateSchema = z.object({
  Cmd: nullish(z.union([z.array(z.string()), z.string().transform((s) => [s])])),
  AttachStdin: nullish(z.boolean()),
  AttachStdout: nullish(z.boolean()),
  AttachStderr: nullish(z.boolean()),
  Tty: nullish(z.boolean()),
  Env: nullish(z.array(z.string())),
  WorkingDir: nullish(z.string()),
  User: nullish(z.string()),
  Privileged: nullish(z.boolean()),
  DetachKeys: nullish(z.string()),
  ConsoleSize: nullish(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
});

const ExecStartSchema = z.object({
  Detach: nullish(z.boolean()),
  Tty: nullish(z.boolean()),
  ConsoleSize: nullish(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
});

/** `docker exec`: /containers/{id}/exec and /exec/{id}/* (Docker API v1.51). */
export function registerExecRoutes(r: Router, exec: ContainerExec): void {
  r.post('/containers/{id}/exec', async (ctx) => {
    const body = await readJson(ctx, ExecCreateSchema);
    // Checked now, as Docker does: a bad sequence is the create's 400, not a surprise later.
    if (body.DetachKeys) parseDetachKeys(body.DetachKeys);
    sendJson(ctx, 201, await exec.createExec(ctx.params.id!, { ...body, Cmd: body.Cmd ?? [] }));
  });

  r.post('/exec/{id}/start', async (ctx) => {
    const body = await readJson(ctx, ExecStartSchema);
    const id = ctx.params.id!;
    const inspect = exec.inspectExec(id);
    if (body.Detach) {
      await exec.startExec(id, { detach: true, consoleSize: body.ConsoleSize });
      // A detached start answers at once (docker-py reads an empty body).
      if (ctx.res) {
        res(ctx).writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 0 });
        res(ctx).end();
      } else {
        ctx.hijack('application/json').end();
      }
      return;
    }
    // As Docker: the connection is taken over first, so that a process that cannot start is
    // told on the stream (and its exit code, 126 or 127, read from /exec/{id}/json after).
    // The process gets a terminal when the exec was created with one; the stream is raw when the
    // start asks for it (docker-py starts a TTY exec with Tty false: its output comes framed).
    const tty = body.Tty ?? inspect.ProcessConfig.tty;
    const sock = ctx.hijack(streamContentType(tty, ctx.apiVersion));
    let started;
    try {
      started = await exec.startExec(id, { detach: false, consoleSize: body.ConsoleSize });
    } catch (err) {
      const text = Buffer.from(`${messageOf(err)}\r\n`);
      sock.end(tty ? text : frame(StreamType.Stdout, text));
      return;
    }
    if (!started.streams) {
      await started.exited;
      sock.end();
      return;
    }
    pipeStreams(sock, started.streams, {
      stdin: inspect.OpenStdin,
      stdout: inspect.OpenStdout,
      stderr: inspect.OpenStderr,
      tty,
      detachKeys: parseDetachKeys(inspect.DetachKeys || DEFAULT_DETACH_KEYS),
      endAfter: started.exited,
    });
  });

  r.post('/exec/{id}/resize', async (ctx) => {
    await exec.resizeExec(ctx.params.id!, queryInt(ctx, 'h') ?? 0, queryInt(ctx, 'w') ?? 0);
    res(ctx).writeHead(200, { 'Content-Length': 0 });
    res(ctx).end();
  });

  r.get('/exec/{id}/json', async (ctx) => {
    sendJson(ctx, 200, exec.inspectExec(ctx.params.id!));
    return Promise.resolve();
  });
}
