import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The build context the builder's tests share. For tests only. */

export const TWO_STAGE = `# a two-stage build
ARG GREETING=hello
FROM busybox AS build
ARG GREETING
WORKDIR /src
COPY msg.txt .
RUN echo "$GREETING from build: $(cat msg.txt)" > /src/out.txt && \\
    echo built
FROM busybox
ENV APP_HOME=/app \\
    MODE=prod
WORKDIR $APP_HOME
COPY --from=build /src/out.txt ./out.txt
COPY data/ ./data/
LABEL org.example.name="two stage" version=1
EXPOSE 8080 53/udp
CMD ["sh", "-c", "cat /app/out.txt /app/data/a.txt; echo mode=$MODE"]
`;

/** A context for TWO_STAGE in `<work>/<name>` (a message file and a data folder); its path. */
export async function twoStageIn(work: string, name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(join(dir, 'data'), { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), TWO_STAGE);
  await writeFile(join(dir, 'msg.txt'), 'the message');
  await writeFile(join(dir, 'data', 'a.txt'), 'file a');
  return dir;
}
