export * from './views';
export * from './live';
export * from './requests';
export * from './routes';
