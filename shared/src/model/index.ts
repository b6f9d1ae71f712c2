export * from './model';
export * from './metrics';
export * from './random';
export * from './average';
export * from './kmeans';
