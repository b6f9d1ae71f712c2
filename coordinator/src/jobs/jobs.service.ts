/**
 * Jobs for the REST API: created and steered through the round engine (which
 * writes each change with its audit record), read from the store as views.
 */
import { Inject, Injectable } from '@nestjs/common';
import { FlError, type JobView, type ModelView, type RoundView } from '@fl/shared';
import { modelShape } from '../rounds/job-run';
import { RoundEngine } from '../rounds/round-engine';
import type { JobControl } from '../cluster/shared-state';
import { STORE, type JobRecord, type Store } from '../storage/store';
import { toJobView, toRoundView } from './job.views';

/** A global model: its description, and its weights as the bytes agents receive. */
export interface GlobalModel {
  view: ModelView;
  weights: Float32Array;
}

@Injectable()
export class JobsService {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(RoundEngine) private readonly engine: RoundEngine,
  ) {}

  /** The engine validates the spec itself: it fills in the coordinator's defaults before the schema's own. */
  async create(spec: unknown, actor: string): Promise<JobView> {
    return toJobView(await this.engine.createJob(spec, actor));
  }

  async list(): Promise<JobView[]> {
    return (await this.store.listJobs()).map(toJobView);
  }

  async get(id: string): Promise<JobView> {
    return toJobView(await this.job(id));
  }

  async control(id: string, action: JobControl, actor: string): Promise<JobView> {
    return toJobView(await this.engine.control(id, action, actor));
  }

  async rounds(id: string): Promise<RoundView[]> {
    const { spec } = await this.job(id);
    return (await this.store.listRounds(id)).map((r) => toRoundView(r, spec));
  }

  /** A round's global model; the latest when `round` is left out. */
  model(id: string, round: number | undefined): Promise<GlobalModel> {
    return this.store.transaction(async () => {
      const job = await this.job(id);
      const model = await this.store.getModel(id, round);
      if (!model || !job.preprocessing) throw new FlError('NOT_FOUND', `job ${id} has no model${round === undefined ? ' yet' : ` for round ${round}`}`);
      const view: ModelView = {
        job: id,
        round: model.round,
        sha256: model.sha256,
        shape: modelShape(job, job.preprocessing),
        ...(job.spec.target !== undefined && { target: job.spec.target }),
        preprocessing: job.preprocessing,
        weights: Array.from(model.weights),
      };
      return { view, weights: model.weights };
    });
  }

  private async job(id: string): Promise<JobRecord> {
    const job = await this.store.getJob(id);
    if (!job) throw new FlError('NOT_FOUND', `no job ${id}`);
    return job;
  }
}
