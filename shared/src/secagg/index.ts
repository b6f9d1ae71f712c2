export * from './errors';
export * from './graph';
export * from './keys';
export * from './ring';
export * from './protocol';
export * from './local-round';
export * from './compat';
