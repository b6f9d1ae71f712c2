export * from './data';
export * from './train';
export { ParticipantAgent, trainingSeed, type AgentOptions } from './client/agent';
export { CoordinatorPins } from './client/pins';
