/** REST for jobs: create, read, the round history, the global model. */
import { Body, Controller, Get, Header, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { encodeWeights, FlError } from '@fl/shared';
import { modelShape } from '../rounds/job-run';
import { RoundEngine } from '../rounds/round-engine';
import { STORE, type JobRecord, type Store } from '../storage/store';
import type { AuthenticatedRequest } from './admin.guard';

@Controller('api/jobs')
export class JobsController {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(RoundEngine) private readonly engine: RoundEngine,
  ) {}

  @Post()
  @HttpCode(201)
  create(@Body() body: unknown, @Req() req: AuthenticatedRequest): JobRecord {
    return this.engine.createJob(body, req.principal.actor);
  }

  @Get()
  list(): JobRecord[] {
    return this.store.listJobs();
  }

  @Get(':id')
  get(@Param('id') id: string): JobRecord {
    return this.job(id);
  }

  @Post(':id/pause')
  @HttpCode(200)
  pause(@Param('id') id: string, @Req() req: AuthenticatedRequest): JobRecord {
    return this.engine.control(id, 'pause', req.principal.actor);
  }

  @Post(':id/resume')
  @HttpCode(200)
  resume(@Param('id') id: string, @Req() req: AuthenticatedRequest): JobRecord {
    return this.engine.control(id, 'resume', req.principal.actor);
  }

  @Post(':id/stop')
  @HttpCode(200)
  stop(@Param('id') id: string, @Req() req: AuthenticatedRequest): JobRecord {
    return this.engine.control(id, 'stop', req.principal.actor);
  }

  @Get(':id/rounds')
  rounds(@Param('id') id: string) {
    this.job(id);
    return this.store.listRounds(id);
  }

  /**
   * The global model: JSON with its shape and preprocessing (what is needed to use
   * it), or the raw Float32 little-endian bytes with `Accept: application/octet-stream`.
   */
  @Get(':id/model')
  @Header('Cache-Control', 'no-store')
  model(@Param('id') id: string, @Query('round') round: string | undefined, @Req() req: Request, @Res() res: Response): void {
    const job = this.job(id);
    const wanted = round === undefined ? undefined : Number(round);
    if (wanted !== undefined && !Number.isInteger(wanted)) throw new FlError('VALIDATION_FAILED', 'round must be an integer');
    const model = this.store.getModel(id, wanted);
    if (!model || !job.preprocessing) throw new FlError('NOT_FOUND', `job ${id} has no model${wanted === undefined ? ' yet' : ` for round ${wanted}`}`);
    res.setHeader('X-Model-Round', String(model.round));
    res.setHeader('X-Model-Sha256', model.sha256);
    if (req.accepts(['application/json', 'application/octet-stream']) === 'application/octet-stream') {
      res.type('application/octet-stream').send(encodeWeights(model.weights));
      return;
    }
    res.json({
      job: id,
      round: model.round,
      sha256: model.sha256,
      shape: modelShape(job, job.preprocessing),
      target: job.spec.target,
      preprocessing: job.preprocessing,
      weights: Array.from(model.weights),
    });
  }

  private job(id: string): JobRecord {
    const job = this.store.getJob(id);
    if (!job) throw new FlError('NOT_FOUND', `no job ${id}`);
    return job;
  }
}
