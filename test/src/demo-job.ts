/** The demo's job: a logistic model of credit default on data/credit_data.csv, as the demo posts it. */
import type { JobSpecInput } from '@fl/shared';

export const DEMO_SPEC: JobSpecInput = {
  name: 'credit default',
  model: 'logistic',
  target: 'Status',
  positiveClass: 'bad',
  features: [
    { name: 'Seniority', type: 'numeric' },
    { name: 'Home', type: 'categorical' },
    { name: 'Time', type: 'numeric' },
    { name: 'Age', type: 'numeric' },
    { name: 'Marital', type: 'categorical' },
    { name: 'Records', type: 'categorical' },
    { name: 'Job', type: 'categorical' },
    { name: 'Expenses', type: 'numeric' },
    { name: 'Income', type: 'numeric' },
    { name: 'Assets', type: 'numeric' },
    { name: 'Debt', type: 'numeric' },
    { name: 'Amount', type: 'numeric' },
    { name: 'Price', type: 'numeric' },
  ],
  rounds: 10,
  minParticipants: 3,
  roundDeadlineSeconds: 30,
  localEpochs: 2,
  batchSize: 32,
  learningRate: 0.1,
  l2: 0.0001,
};
