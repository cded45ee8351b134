import { describe, expect, it } from 'vitest';
import { compose, namedStage } from './compose.js';

describe('compose', () => {
  it('runs stages in order, onion style', async () => {
    const seen: string[] = [];
    const stage = (name: string) =>
      namedStage<string[]>(name, async (ctx, next) => {
        ctx.push(`${name}>`);
        await next();
        ctx.push(`<${name}`);
      });
    await compose([stage('a'), stage('b'), stage('c')])(seen);
    expect(seen).toEqual(['a>', 'b>', 'c>', '<c', '<b', '<a']);
  });

  it('lets a stage stop the chain by not calling next', async () => {
    const seen: string[] = [];
    const stop = namedStage<string[]>('stop', async (ctx) => {
      ctx.push('stopped');
    });
    const never = namedStage<string[]>('never', async (ctx) => {
      ctx.push('reached');
    });
    await compose([stop, never])(seen);
    expect(seen).toEqual(['stopped']);
  });

  it('refuses a second next() from the same stage', async () => {
    const twice = namedStage<object>('twice', async (_ctx, next) => {
      await next();
      await next();
    });
    await expect(compose([twice, namedStage('end', async () => {})])({})).rejects.toThrow(
      'stage "twice" called next() more than once',
    );
  });

  it('propagates errors thrown by inner stages to outer ones', async () => {
    const caught: unknown[] = [];
    const outer = namedStage<object>('outer', async (_ctx, next) => {
      try {
        await next();
      } catch (err) {
        caught.push(err);
        throw err;
      }
    });
    const failing = namedStage<object>('failing', async () => {
      throw new Error('denied');
    });
    await expect(compose([outer, failing])({})).rejects.toThrow('denied');
    expect(caught).toHaveLength(1);
  });
});
