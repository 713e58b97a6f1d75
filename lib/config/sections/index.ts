/** Every config section, one line each, in parse order (a section may read those before it). */
import { registerConfigSection } from '../registry.js';
import { authSection } from './auth.js';
import { backendsSection } from './backends.js';
import { recoverySection } from './recovery.js';
import { routesSection } from './routes.js';
import { serverSection } from './server.js';

registerConfigSection(serverSection);
registerConfigSection(authSection);
registerConfigSection(backendsSection);
registerConfigSection(routesSection);
registerConfigSection(recoverySection);
