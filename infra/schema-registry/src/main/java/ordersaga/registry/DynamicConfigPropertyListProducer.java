package ordersaga.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/**
 * The list of properties that may be changed at run time through the registry's admin API.
 *
 * <p>Apicurio builds this list at build time in a Quarkus extension (config-index) that the
 * pom leaves out, since it does not build outside Apicurio's own tree. Without it nothing
 * supplies the bean the registry's config index injects, so this producer supplies an empty
 * list: every setting comes from the static configuration (the -D options the stack passes),
 * and none can be changed through the admin API. The schema rules that the Confluent-compatible
 * API sets (the compatibility of a subject) are stored data, not dynamic properties, and are
 * unaffected.
 */
@ApplicationScoped
public class DynamicConfigPropertyListProducer {

    @Produces
    @ApplicationScoped
    DynamicConfigPropertyList dynamicConfigPropertyList() {
        return new DynamicConfigPropertyList(List.of());
    }
}
