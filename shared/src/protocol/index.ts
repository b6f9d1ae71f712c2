export * from './errors';
export * from './job';
export * from './messages';
export * from './events';
export * from './enrollment';
export * from './failures';
export * from './text';
