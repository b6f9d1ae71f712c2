/** REST for jobs: create, read, steer, the round history, the global model. */
import { Body, Controller, Get, Header, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { encodeWeights, ModelQuerySchema, type JobView, type RoundView } from '@fl/shared';
import type { AuthenticatedRequest } from '../users/admin.guard';
import { parseBody } from '../validation';
import { JobsService } from './jobs.service';
import { toOnnx, toTfjs } from './model-export';

@Controller('api/jobs')
export class JobsController {
  constructor(@Inject(JobsService) private readonly jobs: JobsService) {}

  @Post()
  @HttpCode(201)
  create(@Body() body: unknown, @Req() req: AuthenticatedRequest): Promise<JobView> {
    return this.jobs.create(body, req.principal.actor);
  }

  @Get()
  list(): Promise<JobView[]> {
    return this.jobs.list();
  }

  @Get(':id')
  get(@Param('id') id: string): Promise<JobView> {
    return this.jobs.get(id);
  }

  @Post(':id/pause')
  @HttpCode(200)
  pause(@Param('id') id: string, @Req() req: AuthenticatedRequest): Promise<JobView> {
    return this.jobs.control(id, 'pause', req.principal.actor);
  }

  @Post(':id/resume')
  @HttpCode(200)
  resume(@Param('id') id: string, @Req() req: AuthenticatedRequest): Promise<JobView> {
    return this.jobs.control(id, 'resume', req.principal.actor);
  }

  @Post(':id/stop')
  @HttpCode(200)
  stop(@Param('id') id: string, @Req() req: AuthenticatedRequest): Promise<JobView> {
    return this.jobs.control(id, 'stop', req.principal.actor);
  }

  @Get(':id/rounds')
  rounds(@Param('id') id: string): Promise<RoundView[]> {
    return this.jobs.rounds(id);
  }

  /**
   * The global model: JSON with its shape and preprocessing (what is needed to use
   * it), or the raw Float32 little-endian bytes with `Accept: application/octet-stream`.
   */
  @Get(':id/model')
  @Header('Cache-Control', 'no-store')
  async model(@Param('id') id: string, @Query() query: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    const { round, format } = parseBody(ModelQuerySchema, query);
    const { view, weights } = await this.jobs.model(id, round);
    res.setHeader('X-Model-Round', String(view.round));
    res.setHeader('X-Model-Sha256', view.sha256);
    if (format === 'onnx') {
      res.attachment('model.onnx').type('application/octet-stream').send(Buffer.from(toOnnx(view.shape, weights, view.preprocessing, `job ${id} round ${view.round}`)));
      return;
    }
    if (format === 'tfjs' || format === 'tfjs-weights') {
      // The weights' path is relative to this URL, so tf.loadLayersModel(url) finds them at the same round.
      const tfjs = toTfjs(view.shape, weights, view.preprocessing, `model?format=tfjs-weights&round=${view.round}`);
      if (format === 'tfjs') res.json(tfjs.modelJson);
      else res.type('application/octet-stream').send(Buffer.from(tfjs.weights));
      return;
    }
    if (req.accepts(['application/json', 'application/octet-stream']) === 'application/octet-stream') {
      res.type('application/octet-stream').send(encodeWeights(weights));
      return;
    }
    res.json(view);
  }
}
