export * from './model';
export * from './metrics';
